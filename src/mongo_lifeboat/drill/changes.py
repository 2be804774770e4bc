"""What changed on the source after the drill's moment T: the basis of the stable-document proof.

A restored document may be compared with the live source only if nothing wrote it after T;
a collection only if no command (drop, rename, collMod, index build …) touched it after T.
The oplog after T comes from the archived segments, then the live oplog on from where the
archive ends (the change stream, where this user may not read the oplog); if the two do not
meet, the proof cannot be made and says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Timestamp
from pymongo import MongoClient

from ..oplog.apply.entries import Op, Unit, units
from ..oplog.capture.sources import resolve
from ..oplog.segments import LocalCopy, Segment, iter_entries, no_local_copy
from ..repo.storage import Storage
from ..timestamps import just_before, to_str


def id_key(value: Any) -> bytes:
    """One byte string per ``_id`` value, equal exactly when the BSON values are equal."""
    return bson.encode({"_id": value})


@dataclass
class Changes:
    """Writes at or after ``since`` (T: a restore to T applies everything before it)."""

    since: Timestamp
    touched: dict[str, set[bytes]] = field(default_factory=dict)  # ns -> _id keys written
    commanded: set[str] = field(default_factory=set)  # namespaces a command changed
    commanded_dbs: set[str] = field(default_factory=set)  # databases dropped
    # Inserts minus deletes per ns up to ``counted_at``, and each after it (to bound a count
    # taken between ``counted_at`` and ``counted_by``).
    counted_at: Timestamp | None = None
    counted_by: Timestamp | None = None
    net: Counter[str] = field(default_factory=Counter)
    later_inserts: Counter[str] = field(default_factory=Counter)
    later_deletes: Counter[str] = field(default_factory=Counter)
    entries: int = 0
    incomplete: str = ""  # why the oplog after T could not all be read, if it could not

    def stable_collection(self, ns: str) -> bool:
        return ns not in self.commanded and ns.split(".", 1)[0] not in self.commanded_dbs

    def written(self, ns: str, key: bytes) -> bool:
        return key in self.touched.get(ns, ())

    def add(self, unit: Unit) -> None:
        for op in unit.ops:
            self._add_op(unit.ts, op)

    def add_since(self, entries: Iterable[dict[str, Any]]) -> None:
        """The writes of ``entries`` at or after ``since`` (earlier ones are T's own past)."""
        for unit in units(entries):
            if unit.ts >= self.since:
                self.add(unit)

    def _add_op(self, ts: Timestamp, op: Op) -> None:
        self.entries += 1
        if op.op == "c":
            self._add_command(op)
            return
        if op.op not in ("i", "u", "d"):
            return
        doc = op.o2 if op.op == "u" else op.o
        if doc and "_id" in doc:
            self.touched.setdefault(op.ns, set()).add(id_key(doc["_id"]))
        if op.op == "u":
            return
        step = 1 if op.op == "i" else -1
        if self.counted_at is None or ts <= self.counted_at:
            self.net[op.ns] += step
        elif self.counted_by is None or ts <= self.counted_by:
            (self.later_inserts if step > 0 else self.later_deletes)[op.ns] += 1

    def _add_command(self, op: Op) -> None:
        name, o = op.command, op.o
        if name == "dropDatabase":
            self.commanded_dbs.add(op.db)
        elif name == "renameCollection":
            self.commanded.update({str(o.get("renameCollection")), str(o.get("to"))})
        elif name == "applyOps":
            return  # its operations come as their own ops (units() flattens them)
        elif isinstance(o.get(name), str):
            self.commanded.add(f"{op.db}.{o[name]}")

    def count_bounds(self, ns: str, restored: int) -> tuple[int, int]:
        """The range a source count taken between ``counted_at`` and ``counted_by`` must fall in."""
        base = restored + self.net[ns]
        return base - self.later_deletes[ns], base + self.later_inserts[ns]


def commanded_between(
    storage: Storage,
    segments: list[Segment],
    start: Timestamp,
    stop: Timestamp,
    local: LocalCopy = no_local_copy,
) -> Changes:
    """The archived writes with ``start < ts < stop`` (between a base backup and T), from
    ``local`` copies where the restore kept them."""
    changes = Changes(start)
    inside = [s for s in segments if s.end > start and s.start < stop]
    for unit in units(iter_entries(storage, inside, local)):
        if start < unit.ts < stop:
            changes.add(unit)
    return changes


def read_changes(
    storage: Storage,
    segments: list[Segment],
    source: MongoClient[Any],
    since: Timestamp,
    counted_at: Timestamp | None = None,
    counted_by: Timestamp | None = None,
) -> Changes:
    """Every write at or after ``since``: from the archive, then the live oplog after it."""
    changes = Changes(since, counted_at=counted_at, counted_by=counted_by)
    archived = [s for s in segments if s.end >= since]
    archived_to = just_before(since)
    changes.add_since(iter_entries(storage, archived))
    if archived:
        archived_to = max(archived_to, archived[-1].end)
    # The live history on from where the archive ends: the oplog where this user may read it,
    # else the change stream.
    live = resolve("auto", source).since(source, archived_to)
    changes.add_since(live)
    if live.incomplete:
        changes.incomplete = f"the archive reaches {to_str(archived_to)}, and {live.incomplete}"
    return changes
