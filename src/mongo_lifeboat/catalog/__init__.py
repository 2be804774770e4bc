"""What the repository knows, read as one: the base backups and snapshots it holds, the
archive's windows and gaps (the timeline), the incidents found in it, the namespaces a
destructive operation took: "what can I restore to, from what" is answered here. The
oplog's own mechanics (reading, archiving, applying) stay in ``oplog``."""
