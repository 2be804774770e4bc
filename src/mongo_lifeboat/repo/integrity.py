"""Object integrity: every stored object checked against its checksum, its BSON parsed,
its document count matched with the manifest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import bson
from bson.errors import BSONError

from .. import interrupts
from ..errors import IntegrityError
from . import layout
from .manifest import FileEntry, Manifest
from .objects import read_documents, read_verified
from .storage import Storage


@dataclass
class VerifyReport:
    backup_id: str
    objects: int = 0
    bytes: int = 0
    documents: int = 0
    oplog_entries: int = 0  # counted apart: an entry is a change, not a document
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_object(storage: Storage, entry: FileEntry) -> int:
    """Raise IntegrityError naming the object if anything is wrong; return documents seen."""
    if entry.key.endswith(".json"):
        try:
            json.loads(read_verified(storage, entry))
        except ValueError as e:
            raise IntegrityError(f"not valid JSON: {entry.key}") from e
        return 0
    return count_parsed(read_documents(storage, entry), entry)


def count_parsed(batches: Iterable[list[bytes]], entry: FileEntry) -> int:
    """Every document of ``batches`` parsed; their number, which must be ``entry``'s."""
    seen = 0
    for batch in batches:
        for raw in batch:
            try:
                bson.decode(raw)
            except (BSONError, ValueError, IndexError) as e:
                raise IntegrityError(f"unparseable BSON document in {entry.key}: {e}") from e
        seen += len(batch)
    if seen != entry.documents:
        raise IntegrityError(f"{entry.key} holds {seen} documents; the manifest says {entry.documents}")
    return seen


def verify_objects(
    storage: Storage,
    backup_id: str,
    entries: Iterable[FileEntry],
    jobs: int = 4,
) -> VerifyReport:
    report = VerifyReport(backup_id)

    def one(entry: FileEntry) -> tuple[FileEntry, int, str | None]:
        interrupts.check()
        try:
            return entry, check_object(storage, entry), None
        except IntegrityError as e:
            return entry, 0, e.message

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="lifeboat-verify") as pool:
        for entry, docs, problem in pool.map(one, list(entries)):
            report.objects += 1
            report.bytes += entry.size
            if layout.is_oplog_object(entry.key):
                report.oplog_entries += docs
            else:
                report.documents += docs
            if problem:
                report.problems.append({"object": entry.key, "problem": problem})
    return report


def verify_backup(
    storage: Storage,
    manifest: Manifest,
    jobs: int = 4,
) -> VerifyReport:
    return verify_objects(storage, manifest.backup_id, manifest.all_files(), jobs)
