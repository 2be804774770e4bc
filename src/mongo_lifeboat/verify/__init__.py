"""Integrity checks of backups, and comparison of live deployments."""
