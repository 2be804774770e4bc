"""What a drop took with it: the documents and indexes of the dropped collections at the time.

The oplog entry of a drop says nothing reliable about the collection (``numRecords`` is an
estimate, and absent on some servers). The newest base backup before the drop does, and
the archived oplog between that backup and the drop says what changed since: inserts and
deletes, indexes built and dropped, collections created, dropped and renamed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp

from ..oplog.apply.entries import Op, units
from ..oplog.incidents import Incident
from ..oplog.segments import iter_entries
from ..repo.manifest import Manifest
from ..repo.storage import Storage
from .history import History


@dataclass
class _Collection:
    documents: int = 0
    indexes: set[str] = field(default_factory=lambda: {"_id_"})


@dataclass(frozen=True)
class Dropped:
    """``documents`` is None when no base backup and unbroken archive lead up to the drop."""

    collections: int
    documents: int | None
    indexes: list[str]
    as_of_backup: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "collections": self.collections,
            "documents": self.documents,
            "indexes": self.indexes,
            "as_of_backup": self.as_of_backup,
        }


def _dropped_namespaces(incident: Incident) -> Callable[[str], bool]:
    if incident.kind == "dropDatabase":
        prefix = incident.ns + "."
        return lambda ns: ns.startswith(prefix)
    return lambda ns: ns == incident.ns


def _base_for(history: History, ts: Timestamp) -> Manifest | None:
    """The newest base backup before ``ts`` with unbroken archive from it to ``ts``."""
    window = history.timeline.window_for(ts)
    if window is None:
        return None
    # A window starts at a base backup's own point: the base itself is at its start.
    bases = [m for m in history.manifests if window.start <= m.end < ts]
    return max(bases, key=lambda m: m.end, default=None)


def what_was_dropped(storage: Storage, history: History, incident: Incident) -> Dropped:
    base = _base_for(history, incident.ts)
    if base is None:
        return Dropped(0, None, [], None)
    # Every collection is followed (not only the dropped ones): one may be renamed onto them.
    state = {
        f"{c.db}.{c.name}": _Collection(c.documents, {str(i.get("name")) for i in c.indexes} or {"_id_"})
        for c in base.collections
        if c.type == "collection"
    }
    segments = [s for s in history.segments if s.end > base.end and s.start < incident.ts]
    for unit in units(iter_entries(storage, segments)):
        if unit.ts <= base.end:
            continue
        if unit.ts >= incident.ts:
            break
        for op in unit.ops:
            _apply(state, op)
    wanted = _dropped_namespaces(incident)
    dropped = {ns: c for ns, c in state.items() if wanted(ns)}
    qualify = incident.kind == "dropDatabase"
    indexes = sorted(
        f"{ns.split('.', 1)[1]}.{i}" if qualify else i for ns, c in dropped.items() for i in c.indexes
    )
    return Dropped(len(dropped), sum(c.documents for c in dropped.values()), indexes, base.backup_id)


def incident_document(storage: Storage, history: History, incident: Incident) -> dict[str, Any]:
    """An incident as every front end reports it (``incidents``, ``diff``, the dashboard): for
    a drop, what it took is read here, once, so no two answers differ."""
    described = incident.describe()
    if incident.drops_collections:  # what it took: from the last backup and the archive since
        dropped = what_was_dropped(storage, history, incident)
        described["dropped"] = dropped.describe()
        if dropped.documents is not None:
            described["count"] = dropped.documents
    return described


def _apply(state: dict[str, _Collection], op: Op) -> None:
    if op.op in ("i", "d"):
        coll = state.setdefault(op.ns, _Collection())  # an insert creates a collection implicitly
        coll.documents += 1 if op.op == "i" else -1
        return
    name, o = op.command, op.o
    ns = f"{op.db}.{o.get(name)}" if isinstance(o.get(name), str) else ""
    if name == "create":
        state[ns] = _Collection()
    elif name == "drop":
        state.pop(ns, None)
    elif name == "dropDatabase":
        for gone in [n for n in state if n.startswith(op.db + ".")]:
            del state[gone]
    elif name in ("createIndexes", "commitIndexBuild") and ns in state:
        # mongod logs one index per createIndexes entry (its spec inline); some servers a list,
        # as two-phase builds (commitIndexBuild, MongoDB 4.4+) do.
        specs = o.get("indexes", [o])
        state[ns].indexes.update(str(spec.get("name")) for spec in specs)
    elif name == "dropIndexes" and ns in state:
        index = o.get("index")
        state[ns].indexes = {"_id_"} if index == "*" else state[ns].indexes - {str(index)}
    elif name == "renameCollection":
        moved = state.pop(str(o.get("renameCollection")), None)
        state[str(o.get("to"))] = moved or _Collection()
