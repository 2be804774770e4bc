"""Replay oplog units onto a target, exactly, without ``applyOps`` (DESIGN §4).

CRUD is applied client-side in batches: the documents a batch touches are fetched
by ``_id`` (only those whose first operation is an update), every operation is
applied in order in memory, and the final states are written back with one
unordered bulk of upserting replaces and deletes per namespace. This is exact on
every server (no ``applyOps``, no server-side diff support needed) and idempotent:
inserts become upserts, diffs set absolute values, deleting a missing document or
updating one is a no-op. DDL and transactions are barriers between batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import bson
from bson import Decimal128, Timestamp
from pymongo import DeleteOne, InsertOne, MongoClient, ReplaceOne
from pymongo.errors import BulkWriteError, OperationFailure

from ...errors import RestoreFailed
from ...mongo.codec import CODEC
from ...mongo.nsmap import NamespaceMap
from .entries import Op, Unit
from .indexes import IndexCatalog
from .updates import UpdateFormatError, apply_update, is_replacement

log = logging.getLogger(__name__)

_MISSING: Any = object()
_NAMESPACE_EXISTS = 48
_NAMESPACE_NOT_FOUND = 26
_FETCH_CHUNK = 1000


def id_key(value: Any) -> Any:
    """A hashable key under which equal ``_id`` values (as MongoDB compares them) meet."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)  # 1 == 1.0 == Int64(1) in MongoDB and in Python
    if isinstance(value, Decimal128):
        return ("n", value.to_decimal()) if value.to_decimal().is_finite() else ("x", str(value))
    if isinstance(value, Decimal):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return ("x", bson.encode({"": value}))


def op_id(op: Op) -> Any:
    if op.op == "u":
        return (op.o2 or {})["_id"]
    return op.o["_id"]


@dataclass
class ApplyStats:
    units: int = 0
    crud: int = 0
    commands: int = 0
    transactions: int = 0
    last_ts: Timestamp | None = None
    warnings: list[str] = field(default_factory=list)


class Applier:
    def __init__(
        self,
        target: MongoClient[Any],
        nsmap: NamespaceMap,
        catalog: IndexCatalog,
        known: set[str] | None = None,
        batch_size: int = 20_000,  # bigger batches coalesce repeated updates of one document
        workers: int = 4,
    ) -> None:
        self.target = target
        self.nsmap = nsmap
        self.catalog = catalog
        self.known = set(known or ())  # source namespaces restored so far (for dropDatabase)
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.stats = ApplyStats()
        self._pending: list[tuple[str, Op]] = []
        self._pool: ThreadPoolExecutor | None = None

    # -- driving ------------------------------------------------------------------

    def apply(self, units: Iterable[Unit], stop_before: Timestamp | None = None) -> ApplyStats:
        """Apply units in order; stop at the first unit with ``ts >= stop_before``."""
        try:
            for unit in units:
                if stop_before is not None and unit.ts >= stop_before:
                    break
                self.apply_unit(unit)
            self.flush()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        return self.stats

    def apply_unit(self, unit: Unit) -> None:
        if unit.transaction:
            self.flush()  # a transaction's writes are applied together, in one batch
            self.stats.transactions += 1
        for op in unit.ops:
            if op.op == "c" or op.coll == "system.views":
                self.flush()
                self._command(op) if op.op == "c" else self._view_write(op)
                self.stats.commands += 1
                continue
            tns = self.nsmap.target(op.ns)
            if tns is None:
                continue
            self.known.add(op.ns)
            self._pending.append((tns, op))
            self.stats.crud += 1
        if unit.transaction or len(self._pending) >= self.batch_size:
            self.flush()
        self.stats.units += 1
        self.stats.last_ts = unit.ts

    # -- CRUD -----------------------------------------------------------------------

    def flush(self) -> None:
        """Apply the pending CRUD: partitioned by (namespace, _id) over the workers, so each
        document's operations stay in order while different documents go in parallel."""
        if not self._pending:
            return
        parts: dict[tuple[str, int], list[Op]] = {}
        for tns, op in self._pending:
            part = hash(id_key(op_id(op))) % self.workers
            parts.setdefault((tns, part), []).append(op)
        self._pending = []
        if len(parts) == 1 or self.workers == 1:
            for (tns, _), ops in parts.items():
                self._flush_ns(tns, ops)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lifeboat-replay")
        futures = [self._pool.submit(self._flush_ns, tns, ops) for (tns, _), ops in parts.items()]
        for f in futures:
            f.result()

    def _collection(self, tns: str) -> Any:
        db, coll = tns.split(".", 1)
        return self.target.get_database(db, codec_options=CODEC)[coll]

    def _flush_ns(self, tns: str, ops: list[Op]) -> None:
        coll = self._collection(tns)
        first: dict[Any, str] = {}
        ids: dict[Any, Any] = {}
        for op in ops:
            _id = op_id(op)
            key = id_key(_id)
            first.setdefault(key, op.op)
            ids.setdefault(key, _id)
        state: dict[Any, Any] = {}
        existed: set[Any] = set()
        # Documents first updated are fetched whole; for those first inserted, whether they
        # exist is enough: a new one can be inserted, which servers do faster than an upsert.
        to_fetch = [ids[k] for k, kind in first.items() if kind == "u"]
        to_probe = [ids[k] for k, kind in first.items() if kind == "i"]
        for i in range(0, len(to_fetch), _FETCH_CHUNK):
            for doc in coll.find({"_id": {"$in": to_fetch[i : i + _FETCH_CHUNK]}}):
                state[id_key(doc["_id"])] = doc
                existed.add(id_key(doc["_id"]))
        for i in range(0, len(to_probe), _FETCH_CHUNK):
            for doc in coll.find({"_id": {"$in": to_probe[i : i + _FETCH_CHUNK]}}, {"_id": 1}):
                existed.add(id_key(doc["_id"]))
        changed: set[Any] = set()
        for op in ops:
            key = id_key(op_id(op))
            if op.op == "i":
                state[key] = op.o if "_id" in op.o else {"_id": ids[key], **op.o}
            elif op.op == "d":
                state[key] = _MISSING
            else:
                current = state.get(key, _MISSING)
                if is_replacement(op.o):
                    if current is _MISSING:
                        continue  # upserts are logged as inserts; a missing doc was deleted later
                    state[key] = op.o if "_id" in op.o else {"_id": ids[key], **op.o}
                else:
                    if current is _MISSING:
                        continue
                    try:
                        state[key] = apply_update(current, op.o)
                    except UpdateFormatError as e:
                        raise RestoreFailed(f"cannot apply an update on {op.ns}: {e}") from e
            changed.add(key)
        writes: list[Any] = []
        for key in changed:
            doc = state[key]
            if doc is _MISSING:
                if key in existed or first[key] != "i":
                    writes.append(DeleteOne({"_id": ids[key]}))
            elif key in existed or first[key] == "d":
                writes.append(ReplaceOne({"_id": ids[key]}, doc, upsert=True))
            else:
                writes.append(InsertOne(doc))
        if not writes:
            return
        try:
            coll.bulk_write(writes, ordered=False, bypass_document_validation=True)
        except BulkWriteError as e:
            err = (e.details.get("writeErrors") or [{}])[0]
            raise RestoreFailed(f"replay into {tns} failed: {err.get('errmsg', e)}") from e

    # -- commands ---------------------------------------------------------------------

    def _run(self, db: str, command: dict[str, Any], ok_codes: tuple[int, ...] = ()) -> None:
        try:
            self.target[db].command(command)
        except OperationFailure as e:
            if e.code in ok_codes:
                return
            raise RestoreFailed(
                f"replaying {next(iter(command))} on {db} failed: {e.details.get('errmsg') if e.details else e}"
            ) from e

    def _map(self, ns: str) -> str | None:
        return self.nsmap.target(ns)

    def _create(self, src: str, options: dict[str, Any]) -> None:
        if "viewOn" not in options:
            self.catalog.add_collection(src)
        self.known.add(src)
        tns = self._map(src)
        if tns is None:
            return
        db, coll = tns.split(".", 1)
        opts = dict(options)
        if "viewPipeline" in opts:  # some servers log a view's pipeline under this name
            opts["pipeline"] = opts.pop("viewPipeline")
        if "viewOn" in opts:
            opts["viewOn"] = self.nsmap.view_on(src.split(".", 1)[0], opts["viewOn"])
        self._run(db, {"create": coll, **opts}, ok_codes=(_NAMESPACE_EXISTS,))

    def _drop(self, src: str) -> None:
        self.catalog.drop_collection(src)
        self.known.discard(src)
        tns = self._map(src)
        if tns is not None:
            db, coll = tns.split(".", 1)
            self._run(db, {"drop": coll}, ok_codes=(_NAMESPACE_NOT_FOUND,))

    def _command(self, op: Op) -> None:
        name, o, db = op.command, op.o, op.db
        src = f"{db}.{o[name]}" if isinstance(o.get(name), str) else ""
        if name == "create":
            self._create(src, {k: v for k, v in o.items() if k not in ("create", "idIndex")})
        elif name == "drop":
            self._drop(src)
        elif name == "dropDatabase":
            for ns in sorted({*self.known, *self.catalog.namespaces()}):
                if ns.split(".", 1)[0] == db:
                    self._drop(ns)
        elif name == "renameCollection":
            self._rename(o[name], o["to"], bool(o.get("dropTarget")))
        elif name == "collMod":
            self._coll_mod(src, o)
        elif name == "createIndexes":
            specs = o["indexes"] if "indexes" in o else [{k: v for k, v in o.items() if k != name}]
            for spec in specs:
                self.catalog.add(src, spec)
        elif name == "commitIndexBuild":
            for spec in o.get("indexes", []):
                self.catalog.add(src, spec)
        elif name in ("dropIndexes", "deleteIndexes"):
            dropped = o.get("index")
            for index in dropped if isinstance(dropped, list) else [dropped]:  # a list: from change events
                self.catalog.drop_index(src, index)
        elif name in ("convertToCapped", "emptycapped"):
            tns = self._map(src)
            if tns is not None:
                self._run(tns.split(".", 1)[0], {**o, name: tns.split(".", 1)[1]})
        else:
            msg = f"skipped unsupported oplog command {name!r} on {db}"
            log.warning(msg)
            self.stats.warnings.append(msg)

    def _rename(self, src: str, dst: str, drop_target: bool) -> None:
        self.catalog.rename(src, dst)
        self.known.discard(src)
        self.known.add(dst)
        tsrc, tdst = self._map(src), self._map(dst)
        if tsrc is not None and tdst is not None:
            self._run(
                "admin",
                {"renameCollection": tsrc, "to": tdst, "dropTarget": True},
                ok_codes=(_NAMESPACE_NOT_FOUND,),  # already renamed in the exported data
            )
        elif tsrc is not None:
            db, coll = tsrc.split(".", 1)
            self._run(db, {"drop": coll}, ok_codes=(_NAMESPACE_NOT_FOUND,))
        elif tdst is not None:
            msg = f"{dst} was renamed from {src}, which this restore excludes: its data is not restored"
            self.stats.warnings.append(msg)
            if drop_target:
                db, coll = tdst.split(".", 1)
                self._run(db, {"drop": coll}, ok_codes=(_NAMESPACE_NOT_FOUND,))

    def _coll_mod(self, src: str, o: dict[str, Any]) -> None:
        if "index" in o:
            self.catalog.modify(src, o["index"])
        rest = {k: v for k, v in o.items() if k not in ("collMod", "index")}
        tns = self._map(src)
        if rest and tns is not None:
            db, coll = tns.split(".", 1)
            if "viewOn" in rest:
                rest["viewOn"] = self.nsmap.view_on(src.split(".", 1)[0], rest["viewOn"])
            self._run(db, {"collMod": coll, **rest}, ok_codes=(_NAMESPACE_NOT_FOUND,))

    def _view_write(self, op: Op) -> None:
        """Older servers log view DDL as writes to ``<db>.system.views``."""
        view_ns = str((op.o2 or op.o).get("_id", ""))
        if op.op == "d":
            self._drop(view_ns)
            return
        if op.op == "u" and not is_replacement(op.o):
            self.stats.warnings.append(f"skipped a partial update of view {view_ns}")
            return
        definition = {k: v for k, v in op.o.items() if k != "_id"}
        if op.op == "u":
            self._coll_mod(view_ns, {"collMod": view_ns.split(".", 1)[1], **definition})
        else:
            self._create(view_ns, definition)
