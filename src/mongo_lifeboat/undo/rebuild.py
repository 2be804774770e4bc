"""The documents a bulk incident touched, as they were just before it, and what happened to
them afterwards: the base backup plus the oplog, for those ``_id``s only (never a full restore).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Timestamp

from ..mongo.codec import CODEC
from ..oplog.apply.applier import id_key, op_id
from ..oplog.apply.entries import Op, Unit
from ..oplog.apply.updates import apply_update, is_replacement
from ..repo.manifest import Manifest
from ..repo.objects import read_documents
from ..repo.storage import Storage

Doc = dict[str, Any]


def apply_op(doc: Doc | None, op: Op) -> Doc | None:
    """One CRUD operation on one document (``None``: absent)."""
    if op.op == "i":
        return dict(op.o)
    if op.op == "d":
        return None
    if is_replacement(op.o):
        return {"_id": op_id(op), **{k: v for k, v in op.o.items() if k != "_id"}}
    return apply_update(doc, op.o) if doc is not None else None


def _drops(op: Op, ns: str) -> bool:
    """Whether the command ``op`` removes the collection ``ns`` (with its documents)."""
    name, db = op.command, ns.split(".", 1)[0]
    if name == "drop":
        return f"{op.db}.{op.o['drop']}" == ns
    if name == "dropDatabase":
        return op.db == db
    if name == "renameCollection":
        return ns in (op.o.get("renameCollection"), op.o.get("to"))
    return False


def base_documents(storage: Storage, base: Manifest, ns: str, ids: set[Any]) -> dict[Any, Doc]:
    """The documents of ``ns`` in ``base`` whose ``_id`` is in ``ids`` (keys: ``id_key``)."""
    found: dict[Any, Doc] = {}
    for coll in base.collections:
        if coll.ns != ns:
            continue
        for entry in coll.files:
            for batch in read_documents(storage, entry):
                for raw in batch:
                    doc = bson.decode(raw, codec_options=CODEC)
                    key = id_key(doc["_id"])
                    if key in ids:
                        found[key] = doc
    return found


def replay_onto(
    docs: dict[Any, Doc], stream: Iterable[Unit], ns: str, ids: set[Any], stop_before: Timestamp
) -> None:
    """Bring ``docs`` forward through the oplog ``stream`` up to ``stop_before`` (exclusive),
    applying only operations on ``ns`` for ``ids``."""
    for unit in stream:
        if unit.ts >= stop_before:
            return
        for op in unit.ops:
            if op.op == "c":
                if _drops(op, ns):
                    docs.clear()
                continue
            if op.ns != ns:
                continue
            key = id_key(op_id(op))
            if key not in ids:
                continue
            after = apply_op(docs.get(key), op)
            if after is None:
                docs.pop(key, None)
            else:
                docs[key] = after


@dataclass
class Fate:
    """What became of the incident's documents after it, from the oplog (archived and live).

    A document is *restored* once its state equals its pre-image again (an earlier undo, or
    anyone who put it back exactly): later writes to it are ordinary life. Any write before
    that makes it a *conflict*: someone decided about that document after the incident.
    """

    pre: dict[Any, Doc]
    state: dict[Any, Doc | None]  # after the incident, as followed so far
    restored: set[Any] = field(default_factory=set)
    touched: set[Any] = field(default_factory=set)

    def follow(self, stream: Iterable[Unit], ns: str, after: Timestamp) -> Timestamp | None:
        """Follow ``stream`` (entries with ``ts > after``); returns the last position seen."""
        last = None
        for unit in stream:
            if unit.ts <= after:
                continue
            last = unit.ts
            for op in unit.ops:
                if op.op == "c":
                    if _drops(op, ns):
                        for key in self.state:
                            self._write(key, None)
                    continue
                if op.ns != ns:
                    continue
                key = id_key(op_id(op))
                if key in self.state:
                    self._write(key, apply_op(self.state[key], op))
        return last

    def _write(self, key: Any, doc: Doc | None) -> None:
        self.state[key] = doc  # followed on after a restore too: what is there now decides
        if key in self.restored:
            return
        if doc is not None and _same(doc, self.pre.get(key)):
            self.restored.add(key)
        else:
            self.touched.add(key)

    @property
    def back(self) -> set[Any]:
        """Put back after the incident and still there (later updates are ordinary life)."""
        return {key for key in self.restored if self.state.get(key) is not None}

    @property
    def conflicts(self) -> set[Any]:
        """Written by someone before being put back, or put back and then removed again."""
        return (self.touched - self.restored) | (self.restored - self.back)


def _same(a: Doc | None, b: Doc | None) -> bool:
    """Equal as MongoDB stores them (field order included)."""
    if a is None or b is None:
        return a is b
    return bson.encode(a, codec_options=CODEC) == bson.encode(b, codec_options=CODEC)
