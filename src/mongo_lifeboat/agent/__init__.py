"""``lifeboat agent``: the recovery plan, carried out unattended, with its dashboard."""
