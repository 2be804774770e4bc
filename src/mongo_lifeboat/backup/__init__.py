"""Consistent logical base backups."""
