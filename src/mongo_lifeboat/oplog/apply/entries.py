"""From raw oplog entries to replayable units (DESIGN §4).

A *unit* is what takes effect at one oplog position: a single CRUD or DDL entry, the
inner operations of a non-transaction ``applyOps``, or a whole transaction (at its
commit entry). Entries the target must not see are dropped here (skip lists).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import bson
from bson import Timestamp

# config.* namespaces that carry user-visible cluster metadata and are replayed.
_CONFIG_KEEP = {"chunks", "collections", "databases", "settings", "shards", "tags", "version"}
_SKIP_COMMANDS = {"startIndexBuild", "abortIndexBuild", "setMultikeyMetadata", "dropIdent"}
_CRUD = ("i", "u", "d")


@dataclass
class Op:
    """One operation to apply: CRUD (``op`` in i/u/d) or a command (``op == 'c'``)."""

    op: str
    ns: str
    o: dict[str, Any]
    o2: dict[str, Any] | None = None
    # The client command that wrote it, where the server logged one (``lsid`` + ``txnNumber``
    # of a retryable write, or of a transaction logged entry by entry): entries sharing it
    # come from one command, so a bulk operation and other clients' writes never mix.
    session: bytes | None = None

    @property
    def db(self) -> str:
        return self.ns.split(".", 1)[0]

    @property
    def coll(self) -> str:
        return self.ns.split(".", 1)[1] if "." in self.ns else ""

    @property
    def command(self) -> str:
        return next(iter(self.o)) if self.op == "c" and self.o else ""


@dataclass
class Unit:
    ts: Timestamp
    ops: list[Op] = field(default_factory=list)
    transaction: bool = False
    wall: datetime | None = None  # of the entry at which the unit takes effect
    batched: bool = False  # a non-transaction applyOps (MongoDB 6.1+ logs a deleteMany so)


def skip_namespace(ns: str) -> bool:
    db, _, coll = ns.partition(".")
    if db == "local" or db.startswith("__mdb_internal"):
        return True
    if ".." in coll or coll.startswith(".") or coll.endswith(".") or "\x00" in coll:
        return True  # a name drivers cannot address: left out of backups too, by name
    if db == "config":
        return coll not in _CONFIG_KEEP
    # users/roles/profile/... are not replayed as plain writes
    return (
        coll.startswith("system.")
        and coll not in ("system.views", "system.js")
        and not coll.startswith("system.buckets.")
    )


def command_namespace(entry: dict[str, Any]) -> str:
    """The namespace a command entry acts on (``db.coll``), or ``db.$cmd`` for database-wide ones."""
    o = entry.get("o") or {}
    name = next(iter(o), "")
    db = entry.get("ns", "").partition(".")[0]
    arg = o.get(name)
    if name == "renameCollection" and isinstance(arg, str):
        return arg
    return f"{db}.{arg}" if isinstance(arg, str) else f"{db}.$cmd"


def _to_op(entry: dict[str, Any]) -> Op:
    return Op(entry["op"], entry.get("ns", ""), entry.get("o") or {}, entry.get("o2"), _txn_key(entry))


def _flatten(entry: dict[str, Any]) -> Iterator[Op]:
    """Expand (possibly nested) non-transaction applyOps; drop skipped entries."""
    op = entry.get("op")
    if op == "n":
        return
    o = entry.get("o") or {}
    if op == "c" and "applyOps" in o:
        for inner in o["applyOps"]:
            yield from _flatten(inner)
        return
    if op not in (*_CRUD, "c"):
        return
    if op == "c":
        name = next(iter(o), "")
        if name in _SKIP_COMMANDS or name in ("commitTransaction", "abortTransaction"):
            return
        if skip_namespace(command_namespace(entry)):
            return
    elif skip_namespace(entry.get("ns", "")):
        return
    yield _to_op(entry)


def _txn_key(entry: dict[str, Any]) -> bytes | None:
    lsid, txn = entry.get("lsid"), entry.get("txnNumber")
    if lsid is None or txn is None:
        return None
    return bson.encode({"l": lsid, "t": txn})


def units(entries: Iterable[dict[str, Any]]) -> Iterator[Unit]:
    """Group decoded entries into units in commit order.

    mongod logs a transaction as ``applyOps`` entries with ``lsid``/``txnNumber``
    (``partialTxn`` on all but the last, or ``prepare`` + a later commit/abort
    command). Servers that log a transaction's operations as individual CRUD entries
    sharing one ``ts`` need nothing special: a cut at a position never splits them.
    """
    pending: dict[bytes, list[Op]] = {}
    for entry in entries:
        o = entry.get("o") or {}
        ts = entry["ts"]
        key = _txn_key(entry)
        if entry.get("op") == "c" and key is not None:
            if "applyOps" in o:
                ops = pending.setdefault(key, [])
                for inner in o["applyOps"]:
                    ops.extend(_flatten(inner))
                if o.get("partialTxn") or o.get("prepare"):
                    continue  # takes effect at a later entry
                yield Unit(ts, pending.pop(key), transaction=True, wall=entry.get("wall"))
                continue
            if "commitTransaction" in o:
                yield Unit(ts, pending.pop(key, []), transaction=True, wall=entry.get("wall"))
                continue
            if "abortTransaction" in o:
                pending.pop(key, None)
                continue
        ops = list(_flatten(entry))
        if ops:
            batched = entry.get("op") == "c" and "applyOps" in o
            yield Unit(ts, ops, wall=entry.get("wall"), batched=batched)
