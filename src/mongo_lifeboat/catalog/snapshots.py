"""A snapshot's record in the repository: which provider snapshots hold the member's data, and
the oplog position that data is consistent at.

The position is exact when writes were locked (``fsync-lock``: ``consistent_from ==
consistent_to``); otherwise (``cold``: the member stopped and started; ``journal``: a
crash-consistent snapshot of data and journal on one volume) the data's newest oplog entry lies
in ``[consistent_from, consistent_to]``, and a restore reads the exact one from the restored
member itself. The record is written last: a snapshot without it never happened.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Literal

from bson import Timestamp
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import BackupNotFound, IntegrityError
from ..remedies import Remedy
from ..repo import layout
from ..repo.storage import ObjectMissing, Storage
from ..timestamps import parse_position

PREFIX = "snapshot:"


class SnapshotManifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal[1] = 1
    snapshot_id: str
    deployment: str
    member: str
    server_version: str
    provider: str
    provider_ids: list[str]
    volumes: list[str]
    consistency: Literal["fsync-lock", "journal", "cold"]
    started_at: str
    finished_at: str
    duration_s: float
    lock_held_s: float | None = None  # fsync-lock: how long writes were blocked
    consistent_from: str
    consistent_to: str
    tool_version: str

    @property
    def start(self) -> Timestamp:
        return parse_position(self.consistent_from)

    @property
    def end(self) -> Timestamp:
        return parse_position(self.consistent_to)

    @property
    def exact(self) -> bool:
        return self.consistent_from == self.consistent_to


def new_snapshot_id(now: datetime | None = None) -> str:
    """The start time to the millisecond (two snapshots in one second stay apart), UTC."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def store(storage: Storage, manifest: SnapshotManifest) -> None:
    body = manifest.model_dump_json(indent=2).encode()
    storage.put(layout.snapshot_key(manifest.deployment, manifest.snapshot_id), io.BytesIO(body))


def list_snapshots(storage: Storage, deployment: str) -> list[SnapshotManifest]:
    out = []
    for obj in storage.list(layout.snapshot_prefix(deployment)):
        if obj.key.endswith(".json"):
            out.append(_read(storage, obj.key))
    return sorted(out, key=lambda m: m.snapshot_id)


def load(storage: Storage, deployment: str, snapshot_id: str) -> SnapshotManifest:
    snapshot_id = snapshot_id.removeprefix(PREFIX)
    if snapshot_id == "latest":
        found = list_snapshots(storage, deployment)
        if not found:
            raise BackupNotFound(f"no snapshot of {deployment}", remedy=Remedy("snapshot"))
        return found[-1]
    try:
        return _read(storage, layout.snapshot_key(deployment, snapshot_id))
    except ObjectMissing as e:
        raise BackupNotFound(f"snapshot {snapshot_id} not found", remedy=Remedy("list-snapshots")) from e


def delete(storage: Storage, manifest: SnapshotManifest) -> None:
    storage.delete([layout.snapshot_key(manifest.deployment, manifest.snapshot_id)])


def _read(storage: Storage, key: str) -> SnapshotManifest:
    with storage.get(key) as f:
        try:
            return SnapshotManifest.model_validate_json(f.read())
        except ValidationError as e:
            raise IntegrityError(f"snapshot record is corrupt: {key} ({e.error_count()} problems)") from e
