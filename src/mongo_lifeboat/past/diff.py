"""What changed between two moments, from the archived oplog alone (no base, no restore).

Per namespace, each document touched between ``start`` and ``end`` is classified by what it
was before its first change there and after its last: absent then present is *inserted*,
present then absent *deleted*, present at both *updated* (a replacement too), absent at both
(inserted and deleted in between) *transient*. Its first change says which: only an insert
can be the first change of a document that was absent. Collections created, dropped and
renamed, indexes built and dropped, and the incidents in the window come from the same pass.
A gap in the archive inside the window is reported, never guessed over: what happened in it
is unknown, and the counts are what the archive shows around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp

from ..catalog.history import History
from ..oplog.apply.entries import Op, Unit, units
from ..oplog.incidents import Incident, find_incidents
from ..oplog.segments import Segment, iter_entries
from ..repo.storage import Storage
from .ids import element_of, value_of

_DDL = {
    "create": "collections_created",
    "drop": "collections_dropped",
    "createIndexes": "indexes_created",
    "commitIndexBuild": "indexes_created",
    "dropIndexes": "indexes_dropped",
}


@dataclass
class NamespaceChanges:
    # _id (as its BSON element, so types stay apart) -> (its first change, its last change)
    documents: dict[bytes, tuple[str, str]] = field(default_factory=dict)
    ddl: dict[str, list[Any]] = field(default_factory=dict)

    def classified(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"inserted": [], "updated": [], "deleted": [], "transient": []}
        for key, (first, last) in self.documents.items():
            before = first != "i"
            after = last != "d"
            kind = {(False, True): "inserted", (True, True): "updated", (True, False): "deleted"}
            out[kind.get((before, after), "transient")].append(value_of(key))
        return out


@dataclass
class Diff:
    start: Timestamp
    end: Timestamp
    namespaces: dict[str, NamespaceChanges]
    incidents: list[Incident]
    gaps: list[tuple[Timestamp, Timestamp]]
    segments_read: int


def changes_between(
    storage: Storage,
    history: History,
    start: Timestamp,
    end: Timestamp,
    selected: Callable[[str], bool] | None = None,
) -> Diff:
    """What the archive holds of the changes with ``start <= ts < end``."""
    segments = [s for s in history.segments if s.end >= start and s.start < end]
    gaps = _gaps(start, end, segments)
    namespaces: dict[str, NamespaceChanges] = {}

    def entries() -> Iterator[dict[str, Any]]:
        for entry in iter_entries(storage, segments):
            if entry["ts"] >= end:
                return
            if entry["ts"] >= start:
                yield entry

    def tap(stream: Iterable[Unit]) -> Iterator[Unit]:
        for unit in stream:
            for op in unit.ops:
                _record(namespaces, op, selected)
            yield unit

    incidents = find_incidents(tap(units(entries())), ns_filter=selected)
    return Diff(start, end, dict(sorted(namespaces.items())), incidents, gaps, len(segments))


def _record(namespaces: dict[str, NamespaceChanges], op: Op, selected: Callable[[str], bool] | None) -> None:
    if op.op == "c":
        _record_command(namespaces, op, selected)
        return
    if op.op not in ("i", "u", "d") or (selected is not None and not selected(op.ns)):
        return
    key = (op.o2 or {}).get("_id") if op.op == "u" else op.o.get("_id")
    if key is None and op.op != "u":
        return
    element = element_of(key)
    changes = namespaces.setdefault(op.ns, NamespaceChanges())
    first, _ = changes.documents.get(element, (op.op, op.op))
    changes.documents[element] = (first, op.op)


def _record_command(
    namespaces: dict[str, NamespaceChanges], op: Op, selected: Callable[[str], bool] | None
) -> None:
    name, o = op.command, op.o
    if name == "renameCollection":
        source, target = str(o.get("renameCollection")), str(o.get("to"))
        for ns, what in ((source, {"to": target}), (target, {"from": source})):
            if selected is None or selected(ns):
                namespaces.setdefault(ns, NamespaceChanges()).ddl.setdefault("renamed", []).append(what)
        return
    if name == "dropDatabase":
        if selected is None or selected(f"{op.db}.*"):
            namespaces.setdefault(f"{op.db}.*", NamespaceChanges()).ddl.setdefault(
                "database_dropped", []
            ).append(True)
        return
    bucket = _DDL.get(name)
    if bucket is None:
        return
    ns = f"{op.db}.{o.get(name)}"
    if selected is not None and not selected(ns):
        return
    changes = namespaces.setdefault(ns, NamespaceChanges()).ddl.setdefault(bucket, [])
    if name == "createIndexes":  # one spec inline (mongod), or several under indexes
        changes.extend(spec.get("name") for spec in o.get("indexes", [o]))
    elif name == "commitIndexBuild":
        changes.extend(ix.get("name") for ix in o.get("indexes", []))
    elif name == "dropIndexes":
        changes.append(o.get("index") if isinstance(o.get("index"), str) else "*")
    else:
        changes.append(ns)


def _gaps(start: Timestamp, end: Timestamp, segments: list[Segment]) -> list[tuple[Timestamp, Timestamp]]:
    """Where the archive does not cover ``[start, end)``: between segments that do not chain,
    and before the first or after the last."""
    gaps, position = [], None
    for seg in segments:
        if position is not None and seg.start > position:
            gaps.append((position, seg.start))
        position = seg.end if position is None else max(position, seg.end)
    if not segments:
        return [(start, end)]
    if segments[0].start > start:
        gaps.insert(0, (start, segments[0].start))
    if position is not None and position < end:
        gaps.append((position, end))
    return gaps
