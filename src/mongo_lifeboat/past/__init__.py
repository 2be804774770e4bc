"""Looking into the past without restoring: a document's history, what changed between two moments."""
