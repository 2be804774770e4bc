"""One document's every version, from the repository alone: its state in a base backup, then
each change the archived oplog (and, if asked, the live oplog beyond it) holds.

The archive is read once, front to back, from the base's consistent point: segments outside
the window are skipped by the facts in their names, and an entry is decoded only when its raw
bytes name a namespace the document lives in (or it is a command: a rename, a drop, a
transaction). Renames are followed; drops end the document. Changes that belong to an incident
(a bulk delete, a drop) name it, found in the same pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bson
from bson import Timestamp
from pymongo import MongoClient

from ..catalog.history import History
from ..ejson import to_relaxed
from ..errors import BackupNotFound, NotFound
from ..mongo.codec import CODEC
from ..oplog.apply.entries import Op, Unit, units
from ..oplog.apply.updates import apply_update, is_replacement
from ..oplog.incidents import Incident, contains, find_incidents
from ..oplog.reader import oplog
from ..oplog.segments import Segment, entry_ts, iter_raw_entries
from ..remedies import Remedy
from ..repo.manifest import Manifest
from ..repo.objects import read_documents
from ..repo.storage import Storage
from ..timestamps import iso, to_str, wall_of
from .changes import changes
from .ids import COMMAND, describe_id, id_elements, ns_pattern, same_id

Doc = dict[str, Any]


@dataclass
class Version:
    """The document right after one change (``document`` None: it is gone)."""

    kind: str  # state | insert | update | replace | delete | drop | dropDatabase | rename
    ts: Timestamp
    wall: datetime | None
    ns: str  # where the document is after the change
    document: Doc | None
    transaction: bool = False
    session: dict[str, Any] | None = None  # the client session and transaction number
    incident: str | None = None
    archived: bool = True  # False: read from the live oplog, not in the archive yet
    after_gap: bool = False  # a gap in the archive lies between the base and this change

    def describe(self, before: Doc | None, diff: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "ts": to_str(self.ts),
            "wall": iso(self.wall) if self.wall else wall_of(self.ts),
            "ns": self.ns,
            "archived": self.archived,
        }
        for name in ("transaction", "after_gap"):
            if getattr(self, name):
                out[name] = True
        if self.session:
            out["session"] = self.session
        if self.incident:
            out["incident"] = self.incident
        if diff and self.kind != "state":
            out["changes"] = changes(before, self.document)
        else:
            out["document"] = self.document
        return out


@dataclass
class DocumentHistory:
    ns: str
    id: Any
    base: str  # the base backup the first state comes from
    versions: list[Version]
    gaps: list[tuple[Timestamp, Timestamp]]
    objects_read: list[str] = field(default_factory=list)  # in the order read, each once

    def describe(self, diff: bool = False) -> dict[str, Any]:
        """The ``--json`` document (relaxed Extended JSON: numbers stay numbers)."""
        versions, before = [], None
        for v in self.versions:
            versions.append(to_relaxed(v.describe(before, diff)))
            before = v.document
        return {
            "ns": self.ns,
            "id": to_relaxed(self.id),
            "base": self.base,
            "versions": versions,
            "gaps": [
                {"start": to_str(a), "end": to_str(b), "start_wall": wall_of(a), "end_wall": wall_of(b)}
                for a, b in self.gaps
            ],
            "objects_read": len(self.objects_read),
        }


def document_history(
    storage: Storage,
    history: History,
    ns: str,
    doc_id: Any,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
    live: MongoClient[Any] | None = None,
) -> DocumentHistory:
    base = _base(history, since)
    tracker = _Tracker(ns, doc_id, shown_from=max(since or base.end, base.end))
    read: list[str] = []
    tracker.document = _base_document(storage, base, ns, doc_id, read)
    segments = [s for s in history.segments if s.end > base.end and (until is None or s.start < until)]
    gaps = _gaps(base.end, segments, until)
    archived_to = segments[-1].end if segments else base.end
    if until is not None and until <= archived_to:
        live = None  # the window ends inside the archive
    raws = _raw_entries(storage, base, segments, read, live, archived_to)
    entries = _decoded(raws, tracker, until)
    incidents = find_incidents(tracker.tap(units(entries), gaps, archived_to))
    tracker.name_incidents(incidents)
    return DocumentHistory(
        ns, doc_id, base.backup_id, [tracker.first_version(), *tracker.versions], gaps, read
    )


def require_found(found: DocumentHistory, history: History) -> None:
    """A history with no version at all is no answer: say whether the namespace or the ``_id``
    is unknown, and how the ``_id`` was read (``"7"`` is not ``7``)."""
    if len(found.versions) > 1 or found.versions[0].document is not None:
        return
    known = sorted({c.ns for m in history.manifests for c in m.collections if c.type == "collection"})
    if found.ns not in known:
        listed = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
        raise NotFound(
            f"no collection {found.ns} in any backup, and no archived change of _id {describe_id(found.id)} in it",
            f"check the namespace (db.collection); the backups hold: {listed or 'nothing'}",
        )
    raise NotFound(
        f"no version of _id {describe_id(found.id)} in {found.ns}: not in base backup {found.base}, "
        "nor in any archived change after it",
        "the _id was read as shown; a string is written '\"7\"', a number 7, an ObjectId "
        '\'{"$oid": "65a1…"}\'',
    )


def _base(history: History, since: Timestamp | None) -> Manifest:
    bases = sorted((m for m in history.manifests if m.point_in_time_base), key=lambda m: m.end)
    if not bases:
        raise BackupNotFound("no base backup to start the document's history from", "{do}", Remedy("backup"))
    if since is None:
        return bases[0]
    before = [m for m in bases if m.end <= since]
    return before[-1] if before else bases[0]


def _base_document(storage: Storage, base: Manifest, ns: str, doc_id: Any, read: list[str]) -> Doc | None:
    """The document as the base's files hold it (before the base's own bracket is replayed)."""
    entry = next((c for c in base.collections if c.ns == ns and c.type == "collection"), None)
    if entry is None:
        return None
    wanted = id_elements(doc_id)
    for file in entry.files:
        read.append(file.key)
        for batch in read_documents(storage, file):
            for raw in batch:
                if any(element in raw for element in wanted):
                    doc = bson.decode(raw, codec_options=CODEC)
                    if same_id(doc.get("_id"), doc_id):
                        return doc
    return None


def _gaps(
    start: Timestamp, segments: list[Segment], until: Timestamp | None
) -> list[tuple[Timestamp, Timestamp]]:
    """Where the archive does not chain between the base and ``until``."""
    gaps, position = [], start
    for seg in segments:
        if seg.start > position:
            gaps.append((position, seg.start))
        position = max(position, seg.end)
    return [g for g in gaps if until is None or g[0] < until]


def _raw_entries(
    storage: Storage,
    base: Manifest,
    segments: list[Segment],
    read: list[str],
    live: MongoClient[Any] | None,
    archived_to: Timestamp,
) -> Iterator[bytes]:
    """The base's bracket, the archive after it, then (if given) the live oplog beyond it."""
    read.append(base.oplog.file.key)
    for batch in read_documents(storage, base.oplog.file):
        yield from batch
    for seg in segments:
        read.append(seg.key)
        yield from (raw for raw in iter_raw_entries(storage, [seg]) if entry_ts(raw) > base.end)
    if live is not None:
        cursor = oplog(live).find({"ts": {"$gt": archived_to}}).sort("$natural", 1)
        yield from (e.raw for e in cursor)


def _decoded(raws: Iterable[bytes], tracker: _Tracker, until: Timestamp | None) -> Iterator[dict[str, Any]]:
    """Decode only the entries that can concern the document (see the module docstring)."""
    for raw in raws:
        if COMMAND not in raw and not any(p in raw for p in tracker.patterns):
            continue
        entry = bson.decode(raw, codec_options=CODEC)
        if until is not None and entry["ts"] >= until:
            return
        yield entry


class _Tracker:
    """Follows the document through the units, recording a version at each change."""

    def __init__(self, ns: str, doc_id: Any, shown_from: Timestamp) -> None:
        self.ns, self.id, self.shown_from = ns, doc_id, shown_from
        self.document: Doc | None = None
        self.patterns = [ns_pattern(ns)]
        self.versions: list[Version] = []
        self.ops: list[tuple[Version, Unit, Op]] = []  # for naming incidents afterwards

    def first_version(self) -> Version:
        """The document as it was at ``shown_from``: the base's state and what came before."""
        return Version("state", self.shown_from, None, self.first_ns, self.first_document)

    def tap(
        self, stream: Iterable[Unit], gaps: list[tuple[Timestamp, Timestamp]], archived_to: Timestamp
    ) -> Iterator[Unit]:
        self.first_ns, self.first_document, shown = self.ns, self.document, False
        for unit in stream:
            if not shown and unit.ts > self.shown_from:
                self.first_ns, self.first_document, shown = self.ns, self.document, True
            for op in unit.ops:
                kind = self._apply(op)
                if kind is None or unit.ts <= self.shown_from:
                    continue
                version = Version(
                    kind,
                    unit.ts,
                    unit.wall,
                    self.ns,
                    self.document,
                    transaction=unit.transaction,
                    session=_session(op.session),
                    archived=unit.ts <= archived_to,
                    after_gap=any(a < unit.ts for a, _ in gaps),
                )
                self.versions.append(version)
                self.ops.append((version, unit, op))
            yield unit
        if not shown:
            self.first_ns, self.first_document = self.ns, self.document

    def _apply(self, op: Op) -> str | None:
        """Apply ``op`` if it changes the document; the kind of change, or None."""
        if op.op == "c":
            return self._command(op)
        if op.ns != self.ns:
            return None
        key = (op.o2 or {}).get("_id") if op.op == "u" else op.o.get("_id")
        if key is None or not same_id(key, self.id):
            return None
        if op.op == "i":
            self.document = dict(op.o)
            return "insert"
        if op.op == "d":
            if self.document is None:
                return None
            self.document = None
            return "delete"
        if self.document is None:
            return None  # an update of a document the base did not hold yet (replayed later)
        if is_replacement(op.o):
            self.document = {"_id": self.document["_id"], **{k: v for k, v in op.o.items() if k != "_id"}}
            return "replace"
        self.document = apply_update(self.document, op.o)
        return "update"

    def _command(self, op: Op) -> str | None:
        name, o = op.command, op.o
        if name == "renameCollection":
            source, target = str(o.get("renameCollection")), str(o.get("to"))
            if source == self.ns:
                self.ns = target
                self.patterns.append(ns_pattern(target))
                return "rename"
            if target == self.ns and o.get("dropTarget") and self.document is not None:
                self.document = None
                return "drop"
            return None
        gone = (name == "drop" and f"{op.db}.{o.get('drop')}" == self.ns) or (
            name == "dropDatabase" and op.db == self.ns.split(".", 1)[0]
        )
        if gone and self.document is not None:
            self.document = None
            return name
        return None

    def name_incidents(self, incidents: list[Incident]) -> None:
        for version, unit, op in self.ops:
            if version.kind in ("insert", "rename"):
                continue
            found = next((i for i in incidents if contains(i, unit, op)), None)
            version.incident = found.id if found else None


def _session(key: bytes | None) -> dict[str, Any] | None:
    if key is None:
        return None
    session = bson.decode(key, codec_options=CODEC)
    lsid = session.get("l") or {}
    return {"lsid": str(lsid.get("id", "")), "txnNumber": session.get("t")}
