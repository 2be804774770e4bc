"""The recovery plan: its example file and its audit (``lifeboat check``)."""
