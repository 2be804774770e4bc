"""mongodump interoperability: read and write mongodump directories and archives (DESIGN §5)."""
