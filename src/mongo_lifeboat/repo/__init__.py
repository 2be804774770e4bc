"""The repository: where backups and oplog segments live."""
