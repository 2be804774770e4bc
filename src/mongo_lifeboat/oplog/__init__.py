"""Oplog: applying entries to a target (and, later, archiving them)."""
