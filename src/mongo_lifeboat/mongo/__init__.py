"""Talking to MongoDB."""
