"""Filesystem snapshots as point-in-time bases: ``lifeboat snapshot`` and restores from them."""
