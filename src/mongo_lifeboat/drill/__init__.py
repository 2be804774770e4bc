"""Restore drills: restore into staging, prove the data, time it against the RTO."""
