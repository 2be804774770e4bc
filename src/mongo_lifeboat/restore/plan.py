"""Restore planning: a pure function from a manifest and filters to a plan (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..mongo.catalog import BUCKETS
from ..mongo.nsmap import NamespaceMap
from ..repo.manifest import CollectionEntry, FileEntry, Manifest

AUTH_NAMESPACES = ("admin.system.users", "admin.system.roles")


@dataclass(frozen=True)
class CollectionTask:
    source_ns: str
    target_ns: str
    entry: CollectionEntry

    @property
    def is_buckets(self) -> bool:
        return self.entry.name.startswith(BUCKETS)


@dataclass(frozen=True)
class RestorePlan:
    manifest: Manifest
    nsmap: NamespaceMap
    collections: list[CollectionTask] = field(default_factory=list)
    views: list[CollectionTask] = field(default_factory=list)
    auth: list[CollectionTask] = field(default_factory=list)

    @property
    def files(self) -> list[tuple[str, FileEntry]]:
        return [(t.target_ns, f) for t in [*self.collections] for f in t.entry.files]

    @property
    def documents(self) -> int:
        return sum(t.entry.documents for t in self.collections)

    @property
    def raw_bytes(self) -> int:
        return sum(t.entry.raw_bytes for t in self.collections)

    def objects(self) -> list[FileEntry]:
        """Every object this restore reads (for --verify-first)."""
        out = [self.manifest.oplog.file]
        for t in [*self.collections, *self.auth]:
            out.extend(t.entry.files)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "backup_id": self.manifest.backup_id,
            "deployment": self.manifest.deployment,
            "restore_to": self.manifest.end_ts,
            "collections": [
                {
                    "source": t.source_ns,
                    "target": t.target_ns,
                    "documents": t.entry.documents,
                    "bytes": t.entry.raw_bytes,
                    "files": len(t.entry.files),
                }
                for t in self.collections
            ],
            "views": [{"source": t.source_ns, "target": t.target_ns} for t in self.views],
            "users_and_roles": [t.source_ns for t in self.auth],
            "oplog_entries": self.manifest.oplog.entries,
            "documents": self.documents,
            "bytes": self.raw_bytes,
            "stored_bytes": sum(f.size for f in self.objects()),
        }


def _target_of(entry: CollectionEntry, nsmap: NamespaceMap) -> str | None:
    if entry.name.startswith(BUCKETS):
        # Buckets follow their time-series collection's filter and rename.
        parent = nsmap.target(f"{entry.db}.{entry.name[len(BUCKETS) :]}")
        if parent is None:
            return None
        pdb, pcoll = parent.split(".", 1)
        return f"{pdb}.{BUCKETS}{pcoll}"
    return nsmap.target(entry.ns)


def plan_restore(manifest: Manifest, nsmap: NamespaceMap, with_users: bool = False) -> RestorePlan:
    plan = RestorePlan(manifest, nsmap)
    for entry in manifest.collections:
        if entry.ns in AUTH_NAMESPACES:
            if with_users:
                plan.auth.append(CollectionTask(entry.ns, entry.ns, entry))
            continue
        target = _target_of(entry, nsmap)
        if target is None:
            continue
        task = CollectionTask(entry.ns, target, entry)
        (plan.views if entry.type == "view" else plan.collections).append(task)
    return plan
