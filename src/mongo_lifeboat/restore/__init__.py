"""Restore: planning, data load, replay, indexes."""
