"""The backup manifest: written last, it is the commit point of a backup.

Options, index specs and other BSON values are stored as canonical Extended JSON
so types (dates, regexes, Int64, decimals) survive exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from bson import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from ..timestamps import parse_position

FORMAT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    key: str
    size: int  # stored bytes (compressed)
    sha256: str
    documents: int = 0
    raw_bytes: int = 0  # uncompressed BSON bytes


class CollectionEntry(_Model):
    db: str
    name: str
    type: Literal["collection", "view", "timeseries"] = "collection"
    uuid: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # canonical Extended JSON
    indexes: list[dict[str, Any]] = Field(default_factory=list)  # canonical Extended JSON
    documents: int = 0
    raw_bytes: int = 0
    files: list[FileEntry] = Field(default_factory=list)
    meta: FileEntry | None = None

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"


class SkippedCollection(_Model):
    """A collection the backup left out (named, with why); everything else is in it."""

    ns: str
    reason: str


class OplogBracket(_Model):
    """Oplog entries with ``start_ts < ts <= end_ts``, captured around the export."""

    start_ts: str
    end_ts: str
    entries: int
    file: FileEntry
    # Where the entries were read: a change stream's are in the archive's entry form, with no
    # oplog entry's bytes (so the chain judges such a base by its replica set).
    capture: Literal["oplog", "change-stream"] = "oplog"


class ImportOrigin(_Model):
    """Where an imported backup came from (``lifeboat import-mongodump``)."""

    format: Literal["mongodump-dir", "mongodump-archive", "mongodump-bson"]
    path: str
    gzip: bool
    tool_version: str = ""
    imported_at: str
    # A dump taken without --oplog is not consistent at any one point: it is restorable
    # as it is, but never used as the base of a point-in-time restore.
    has_oplog: bool


class SourceIdentity(_Model):
    """What told this replica set apart from others of the same name when it was backed up:
    its ``replicaSetId`` where the server reports one, and its members' hosts. The chain
    itself (the consistent-point entry's digest, on the manifest) is the proof that always
    exists; these are the fast answer where they are known."""

    replica_set_id: str | None = None
    hosts: list[str] = Field(default_factory=list)


class Manifest(_Model):
    format: int = FORMAT_VERSION
    tool_version: str
    backup_id: str
    deployment: str
    member: str
    server_version: str
    fcv: str | None = None
    started_at: str
    finished_at: str
    duration_s: float
    start_ts: str
    end_ts: str
    collections: list[CollectionEntry]
    oplog: OplogBracket
    phases: dict[str, float] = Field(default_factory=dict)  # seconds: prepare, export, bracket
    imported_from: ImportOrigin | None = None
    identity: SourceIdentity | None = None
    # sha256 of the raw oplog entry at end_ts (the last one at that ts): the archive holds a
    # byte-identical entry there exactly when this base and that archive are of one history.
    end_entry_sha256: str | None = None
    skipped: list[SkippedCollection] = Field(default_factory=list)

    @property
    def point_in_time_base(self) -> bool:
        """Whether archived oplog may be replayed on top of this backup: only when its
        consistent point is proven. A Lifeboat backup proves it with its bracket (captured
        around the export, checked for trimming); an imported dump only with the entries of
        its own oplog.bson (its file time proves nothing about its data)."""
        if self.imported_from is None:
            return True
        return self.imported_from.has_oplog and self.oplog.entries > 0

    @property
    def end(self) -> Timestamp:
        return parse_position(self.end_ts)

    @property
    def start(self) -> Timestamp:
        return parse_position(self.start_ts)

    def all_files(self) -> list[FileEntry]:
        files = [self.oplog.file]
        for c in self.collections:
            files.extend(c.files)
            if c.meta is not None:
                files.append(c.meta)
        return files

    @property
    def stored_bytes(self) -> int:
        return sum(f.size for f in self.all_files())

    @property
    def documents(self) -> int:
        return sum(c.documents for c in self.collections)
