"""The audit of the recovery plan against reality (``lifeboat check``, the agent's check
cycle): the facts gathered once, the checks that judge them, their results."""
