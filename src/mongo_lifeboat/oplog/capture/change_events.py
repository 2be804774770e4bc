"""Change-stream events in the archive's entry form (issue 22, the capture's first step): what
``watch(show_expanded_events=True)`` gives, turned into the oplog entries everything downstream
already reads — the applier, the incident finder, ``undo``, the timeline — so there is one kind
of history whichever source captured it.

- insert → ``i`` (``o`` the full document); delete → ``d``; replace → ``u`` with the whole
  document; update → ``u`` whose ``o`` is ``{$v: 2, diff: {updatedFields, removedFields,
  truncatedArrays, disambiguatedPaths}}`` (``oplog.apply.updates`` applies it: a path the server
  disambiguated is followed part by part, so a field whose name holds a dot or a digit is
  never taken for another).
- create (views too), drop, rename (``dropTarget`` where the event says so), dropDatabase,
  createIndexes, dropIndexes → the ``c`` commands the oplog holds for them; modify → ``collMod``
  where the event describes the command (``operationDescription``: a validator, its level and
  action, an index's TTL or hidden flag, a view's definition).
- The events of one transaction (the same ``lsid`` + ``txnNumber`` at one ``clusterTime``) →
  one ``applyOps`` carrying ``lsid`` and ``txnNumber``, as mongod logs a transaction: it takes
  effect whole, at its position.

An event the entry form cannot express (a ``modify`` that gives only the options' new state,
or other fields, sharding events, anything unknown) is refused with :class:`UnsupportedEvent` naming it: never dropped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ...errors import UnsupportedEvent

Event = dict[str, Any]
Entry = dict[str, Any]


def to_entries(events: Iterable[Event]) -> Iterator[Entry]:
    """The entries of ``events``, in order. A transaction's events are held until the first
    event after them (or the end), then given as one entry."""
    pending: list[Event] = []
    for event in events:
        if pending and not same_transaction(pending[0], event):
            yield _transaction(pending)
            pending = []
        if event.get("lsid") is not None and event.get("txnNumber") is not None:
            pending.append(event)
            continue
        yield _entry(event)
    if pending:
        yield _transaction(pending)


def same_transaction(a: Event, b: Event) -> bool:
    """Two events of one transaction: the same session, transaction number and cluster time."""
    return (a.get("lsid"), a.get("txnNumber"), a["clusterTime"]) == (
        b.get("lsid"),
        b.get("txnNumber"),
        b["clusterTime"],
    )


def _transaction(events: list[Event]) -> Entry:
    first = events[0]
    inner = [{k: v for k, v in _entry(e).items() if k not in ("ts", "wall")} for e in events]
    return {
        "ts": first["clusterTime"],
        "wall": first.get("wallTime"),
        "op": "c",
        "ns": "admin.$cmd",
        "o": {"applyOps": inner},
        "lsid": first["lsid"],
        "txnNumber": first["txnNumber"],
    }


def _entry(event: Event) -> Entry:
    kind = event.get("operationType")
    ns = event.get("ns") or {}
    db, coll = ns.get("db", ""), ns.get("coll", "")
    base: Entry = {"ts": event["clusterTime"], "wall": event.get("wallTime")}
    if event.get("collectionUUID") is not None:
        base["ui"] = event["collectionUUID"]
    key = event.get("documentKey")
    if kind == "insert":
        return {**base, "op": "i", "ns": f"{db}.{coll}", "o": event["fullDocument"], "o2": key}
    if kind == "delete":
        return {**base, "op": "d", "ns": f"{db}.{coll}", "o": key}
    if kind == "replace":
        return {**base, "op": "u", "ns": f"{db}.{coll}", "o": event["fullDocument"], "o2": key}
    if kind == "update":
        return {**base, "op": "u", "ns": f"{db}.{coll}", "o": {"$v": 2, "diff": _diff(event)}, "o2": key}
    command = _command(kind, db, coll, event.get("operationDescription") or {}, event)
    if command is None:
        raise UnsupportedEvent(
            f"a change event Lifeboat cannot replay exactly: {kind} on {db}.{coll or '*'} "
            f"at {event['clusterTime']}"
        )
    return {**base, "op": "c", "ns": f"{db}.$cmd", "o": command}


def _diff(event: Event) -> dict[str, Any]:
    update = event.get("updateDescription") or {}
    diff = {
        "updatedFields": update.get("updatedFields") or {},
        "removedFields": list(update.get("removedFields") or []),
        "truncatedArrays": list(update.get("truncatedArrays") or []),
    }
    if update.get("disambiguatedPaths"):
        diff["disambiguatedPaths"] = update["disambiguatedPaths"]
    return diff


def _command(kind: Any, db: str, coll: str, described: dict[str, Any], event: Event) -> dict[str, Any] | None:
    if kind == "create":
        command: dict[str, Any] = {"create": coll}
        if "viewOn" in described:
            command.update(viewOn=described["viewOn"], pipeline=described.get("viewPipeline") or [])
        for option in (
            "capped",
            "size",
            "max",
            "collation",
            "validator",
            "validationLevel",
            "validationAction",
        ):
            if option in described:
                command[option] = described[option]
        return command
    if kind == "drop":
        return {"drop": coll}
    if kind == "dropDatabase":
        return {"dropDatabase": 1}
    if kind == "rename":
        to = described.get("to") or event.get("to") or {}
        command = {"renameCollection": f"{db}.{coll}", "to": f"{to.get('db')}.{to.get('coll')}"}
        if described.get("dropTarget") is not None:
            command["dropTarget"] = True
        return command
    if kind == "createIndexes":
        return {"createIndexes": coll, "indexes": described.get("indexes") or []}
    if kind == "dropIndexes":
        names = [ix.get("name") for ix in described.get("indexes") or []]
        return {"dropIndexes": coll, "index": names[0] if len(names) == 1 else names}
    if kind == "modify" and described and set(described) <= COLL_MOD_OPTIONS:
        # Where the server describes the collMod itself (SecantusDB); an event that gives only
        # the options' new state (``updateDescription``) has no exact command: refused.
        return {"collMod": coll, **described}
    return None


# collMod fields the applier replays as mongod logs them (oplog.apply.applier, oplog.apply.indexes).
COLL_MOD_OPTIONS = frozenset(
    {"validator", "validationLevel", "validationAction", "index", "expireAfterSeconds", "viewOn", "pipeline"}
)
