"""Other clients' ordinary traffic around an accident, and the oracle that knows it.

``Traffic`` inserts, updates and deletes single documents (retryable writes, as drivers
make them by default) at a steady rate across several collections, and logs each one as a
``workload.LoggedOp`` with its oplog position. ``Oracle`` replays such a log on an
identically seeded server, with the test's own bulk operations in it, and knows which
documents a bulk operation destroyed and who touched them afterwards: independent of
Lifeboat's oplog reading.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import Any

from bson import Timestamp
from pymongo import MongoClient

from mongo_lifeboat.demo import workload

RATE_PER_S = 40.0  # every collection sees several writes a second


def logs_sessions(client: MongoClient[Any]) -> bool:
    """Whether the server logs a retryable write's lsid/txnNumber in the oplog (mongod does;
    a server that does not leaves nothing in the oplog to tell another client's single
    delete from a bulk operation's own, see ``Traffic.hold``)."""
    probe = client.lifeboat_probe.sessions
    probe.insert_one({"_id": 1})
    probe.delete_one({"_id": 1})
    entry = client.local["oplog.rs"].find_one({"ns": "lifeboat_probe.sessions", "op": "d"})
    client.drop_database("lifeboat_probe")
    return bool(entry and entry.get("lsid") is not None)


class Traffic:
    def __init__(self, client: MongoClient[Any], ids: dict[str, list[Any]], seed: int = 5) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.live = {ns: list(v) for ns, v in ids.items()}
        self.next_id = 10_000_000
        self.log: list[workload.LoggedOp] = []
        self._held: set[str] = set()
        self._held_until: dict[str, float] = {}
        self._forgotten: set[Any] = set()
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)
        self._iteration = 0
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-traffic", daemon=True)
        self.error: BaseException | None = None

    # -- control from the test thread --------------------------------------------------

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> list[workload.LoggedOp]:
        self._stop.set()
        self._thread.join()
        if self.error:
            raise self.error
        self._pin_positions()
        return sorted(self.log, key=lambda op: op.ts_after)

    def _pin_positions(self) -> None:
        """A session's operationTime after a write is the cluster time of the reply, which
        another client's concurrent write may already have moved past the write's own entry:
        pin each single-document write to its own entry, read from the source's oplog."""
        if not self.log:
            return
        first = min(op.ts_before for op in self.log)
        entries: dict[tuple[str, Any], list[Timestamp]] = {}
        for e in self.client.local["oplog.rs"].find({"ts": {"$gt": first}, "op": {"$in": ["i", "u", "d"]}}):
            key = (e["ns"], (e.get("o2") or e["o"]).get("_id"))
            entries.setdefault(key, []).append(e["ts"])
        for op in self.log:
            if op.kind not in ("insert_one", "update_one", "delete_one"):
                continue
            own = [ts for ts in entries.get((op.ns, _touched_id(op)), []) if op.ts_before < ts <= op.ts_after]
            if len(own) == 1:
                op.ts_after = own[0]

    def hold(self, ns: str) -> None:
        """Only inserts into ``ns`` from now on, and return once no other write to it is in
        flight. Used while a bulk operation runs on a server that logs no sessions:
        a single delete that waited for the bulk operation's collection lock lands within
        a millisecond of its last entry, and nothing in such an oplog can tell them apart."""
        with self._turn:
            self._held.add(ns)
            seen = self._iteration
            self._turn.wait_for(lambda: self._iteration >= seen + 2 or self._done)
        self._raise()

    def release(self, ns: str, margin_s: float = 0.1) -> None:
        """Deletes and updates of ``ns`` again, ``margin_s`` from now: the bulk operation has
        returned, so its last entry is older than that. (Later than ``1 / min_rate`` after a
        burst, a single write is never counted in it, see the incident finder's rules.)"""
        with self._lock:
            self._held_until[ns] = time.monotonic() + margin_s
            self._held.discard(ns)

    def forget(self, ids: Iterable[Any]) -> None:
        """Leave these documents alone from now on (what the test touches itself is logged)."""
        with self._lock:
            self._forgotten.update(ids)

    def wait_ops(self, n: int) -> None:
        with self._turn:
            target = len(self.log) + n
            self._turn.wait_for(lambda: len(self.log) >= target or self._done)
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise AssertionError(f"the traffic thread failed: {self.error!r}") from self.error

    def run_logged(self, kind: str, ns: str, args: dict[str, Any]) -> workload.LoggedOp:
        """An operation of the test's own (a bulk one, a deliberate touch), logged in place."""
        db, coll = ns.split(".", 1)
        with self.client.start_session(causal_consistency=True) as session:
            before = workload._newest(self.client)
            workload._execute(self.client, kind, db, coll, args, session)
            after = session.operation_time
        assert after is not None
        op = workload.LoggedOp(kind, db, coll, args, before, after)
        with self._lock:
            self.log.append(op)
        return op

    # -- the writer thread --------------------------------------------------------------

    def _plan(self) -> tuple[str, str, dict[str, Any]]:
        ns = self.rng.choice(sorted(self.live))
        with self._lock:
            held = ns in self._held or time.monotonic() < self._held_until.get(ns, 0.0)
            choices = [i for i in self.live[ns][-400:] if i not in self._forgotten]
        roll = self.rng.random()
        if held or roll < 0.3 or not choices:
            self.next_id += 1
            self.live[ns].append(self.next_id)
            doc = {"_id": self.next_id, "name": f"traffic-{self.next_id}", "qty": 500, "grp": 9}
            return "insert_one", ns, {"doc": doc}
        target = self.rng.choice(choices)
        if roll < 0.65:
            update = {"$set": {"touched": self.rng.random()}, "$inc": {"qty": 1}}
            return "update_one", ns, {"filter": {"_id": target}, "update": update}
        self.live[ns].remove(target)
        return "delete_one", ns, {"filter": {"_id": target}}

    def _run(self) -> None:
        try:
            with self.client.start_session(causal_consistency=True) as session:
                self.client.admin.command("ping", session=session)
                before = workload._newest(self.client)
                due = time.monotonic()
                while not self._stop.wait(max(0.0, due - time.monotonic())):
                    # A steady rate whatever each write costs, and no catching up in a rush
                    # after a stall (a rush of single writes is a burst of its own).
                    due = max(due + 1.0 / RATE_PER_S, time.monotonic())
                    kind, ns, args = self._plan()
                    db, coll = ns.split(".", 1)
                    workload._execute(self.client, kind, db, coll, args, session)
                    after = session.operation_time
                    assert after is not None
                    with self._turn:
                        self.log.append(workload.LoggedOp(kind, db, coll, args, before, after))
                        self._iteration += 1
                        self._turn.notify_all()
                    before = after
        except BaseException as e:
            self.error = e
        finally:
            with self._turn:
                self._done = True
                self._turn.notify_all()


def _touched_id(op: workload.LoggedOp) -> Any:
    return op.args["doc"]["_id"] if op.kind == "insert_one" else op.args["filter"]["_id"]


class Oracle:
    """The log replayed on an identically seeded server; a bulk operation of the log can be
    undone the way ``lifeboat undo`` promises: its documents back as they were just before
    it, except those someone wrote again afterwards (the conflicts)."""

    def __init__(self, client: MongoClient[Any], docs: int) -> None:
        self.client = client
        workload.seed(client, docs)

    def replay_before(self, log: list[workload.LoggedOp], position: Timestamp, source: Any) -> None:
        workload.replay(self.client, log, lambda ts: ts < position, source=source)

    def replay_undoing(self, log: list[workload.LoggedOp], bulks: list[workload.LoggedOp]) -> None:
        """Replay ``log``, recording each bulk operation's victims as they were just before it
        (``self.pre``) and who wrote them again afterwards (``self.conflicts``); then put back
        those that nobody wrote again."""
        self.pre: dict[int, dict[Any, dict[str, Any]]] = {}
        self.conflicts: dict[int, set[Any]] = {}
        for op in log:
            target = self.client[op.db][op.coll]
            if any(op is b for b in bulks):
                self.pre[id(op)] = {d["_id"]: d for d in target.find(op.args["filter"])}
                self.conflicts[id(op)] = set()
                workload._execute(self.client, op.kind, op.db, op.coll, op.args)
                continue
            watched = (
                [
                    b
                    for b in bulks
                    if id(b) in self.pre and b.ns == op.ns and _touched_id(op) in self.pre[id(b)]
                ]
                if op.kind in ("insert_one", "update_one", "delete_one")
                else []
            )
            before = target.find_one({"_id": _touched_id(op)}) if watched else None
            workload._execute(self.client, op.kind, op.db, op.coll, op.args)
            if watched and target.find_one({"_id": _touched_id(op)}) != before:
                for b in watched:
                    self.conflicts[id(b)].add(_touched_id(op))
        for b in bulks:
            coll = self.client[b.db][b.coll]
            for _id, doc in self.pre[id(b)].items():
                if _id not in self.conflicts[id(b)]:
                    coll.replace_one({"_id": _id}, doc, upsert=True)
