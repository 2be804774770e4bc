"""Lifeboat: MongoDB backup and recovery."""

__version__ = "0.1.0"
