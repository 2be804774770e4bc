"""Hand-made manifests for pure-function tests (timeline, base selection)."""

from __future__ import annotations

from mongo_lifeboat.repo.manifest import FileEntry, ImportOrigin, Manifest, OplogBracket


def make_manifest(backup_id: str, end: str, entries: int = 0, origin: ImportOrigin | None = None) -> Manifest:
    """A complete manifest consistent at ``end`` (``"seconds:increment"``), with no data."""
    f = FileEntry(key="k", size=0, sha256="0" * 64)
    return Manifest(
        tool_version="t",
        backup_id=backup_id,
        deployment="rs0",
        member="m",
        server_version="7",
        started_at="t",
        finished_at="t",
        duration_s=0,
        start_ts=end,
        end_ts=end,
        collections=[],
        oplog=OplogBracket(start_ts=end, end_ts=end, entries=entries, file=f),
        imported_from=origin,
    )
