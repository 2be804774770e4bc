"""Issue 21, item 1: where the source pins snapshot reads (mongod), the drill reads it as it was
at T and proves exactly; where the server refuses (T older than its history), it falls back to
the stable-document proof, collection by collection.

SecantusDB accepts ``atClusterTime`` but does not pin reads (DESIGN §6), so the source here is
a wire-level test double of a mongod that does: it keeps a collection as it was at T and as it
is now, answers a snapshot read at or after its oldest kept time with the former, and refuses an
older one with ``SnapshotTooOld`` as mongod does. The staging side is a real SecantusDB server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.drill import walk
from mongo_lifeboat.drill.changes import Changes, id_key
from mongo_lifeboat.drill.proof import Counts, Proof, judge_data
from mongo_lifeboat.drill.snapshot_reads import pins_snapshots
from mongo_lifeboat.drill.walk import walk_collection
from mongo_lifeboat.mongo.client import connect

from ..support.servers import ServerPool
from ..support.wire_double import FakeMongod

THEN = [{"_id": i, "v": i} for i in range(1, 6)]  # the collection at T
# Now: _id 2 updated, 4 deleted, 9 inserted after T.
NOW = [{"_id": 1, "v": 1}, {"_id": 2, "v": 200}, {"_id": 3, "v": 3}, {"_id": 5, "v": 5}, {"_id": 9, "v": 9}]
T = Timestamp(1_800_000_000, 7)


class SnapshotMongod(FakeMongod):
    """A mongod whose ``shop.items`` is kept as it was at T and as it is now (see the module)."""

    def __init__(self, oldest: Timestamp) -> None:
        super().__init__()
        self.oldest = oldest  # the oldest time its snapshot history still reaches
        self.pending: dict[int, list[dict[str, Any]]] = {}  # cursor id -> documents not yet sent

    def _command(self, doc: dict[str, Any]) -> dict[str, Any]:
        name = next(iter(doc))
        if name == "getMore":
            with self._lock:
                self.log.append(("getMore", 0.0, doc))
            rest = self.pending.pop(int(doc["getMore"]))
            size = int(doc.get("batchSize") or len(rest))
            more = rest[size:]
            if more:
                self.pending[int(doc["getMore"])] = more
            cid = int(doc["getMore"]) if more else 0
            return {"cursor": {"id": cid, "ns": "shop.items", "nextBatch": rest[:size]}, "ok": 1.0}
        if name == "find" and doc["find"] == "items":
            with self._lock:
                self.log.append(("find", 0.0, doc))
            concern = doc.get("readConcern") or {}
            if concern.get("level") == "snapshot":
                if concern["atClusterTime"] < self.oldest:
                    return {"ok": 0.0, "code": 239, "codeName": "SnapshotTooOld", "errmsg": "too old"}
                docs = THEN
            else:
                docs = NOW
            wanted = ((doc.get("filter") or {}).get("_id") or {}).get("$in")
            batch = [d for d in docs if wanted is None or d["_id"] in wanted]
            size = int(doc.get("batchSize") or len(batch) or 1)
            cid = 0
            if batch[size:]:
                cid = 7000 + len(self.log)
                self.pending[cid] = batch[size:]
            return {"cursor": {"id": cid, "ns": "shop.items", "firstBatch": batch[:size]}, "ok": 1.0}
        return super()._command(doc)

    def finds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d for name, _, d in self.log if name == "find"]


@pytest.fixture
def staging(servers: ServerPool) -> Iterator[Any]:
    client = connect(servers.new().uri, role="staging")
    client.shop.items.insert_many([dict(d) for d in THEN])  # the restore of T
    yield client
    client.close()


def _double(oldest: Timestamp) -> SnapshotMongod:
    return SnapshotMongod(oldest)


def test_a_source_that_pins_snapshots_is_read_as_it_was_at_t(staging: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(walk, "BATCH_DOCS", 2)  # the snapshot read goes on by getMore
    double = _double(oldest=Timestamp(T.time - 60, 1))
    source = connect(double.uri, role="source")
    try:
        assert pins_snapshots(source)
        walked = walk_collection(staging, source, "shop.items", at=T)
        assert walked.at_t
        assert (walked.restored, walked.source, walked.mismatches) == (5, 5, [])
        sent = double.finds()[0]
        assert sent["readConcern"] == {"level": "snapshot", "atClusterTime": T}
        assert "lsid" in sent  # getMore must come in the same session
        more = [d for name, _, d in double.log if name == "getMore"]
        assert len(more) == 2 and all(d["lsid"] == sent["lsid"] for d in more)
        assert double.pending == {}
        # Read as it is now, the same restore differs: the walk can tell the two apart.
        now = walk_collection(staging, source, "shop.items")
        assert not now.at_t
        assert sorted((c.id, c.problem) for c in now.mismatches) == [
            (2, "differs from the source"),
            (4, "missing on the source"),
            (9, "missing after the restore"),
        ]
    finally:
        source.close()
        double.close()


def test_a_t_older_than_the_servers_history_falls_back_to_the_stable_proof(staging: Any) -> None:
    double = _double(oldest=Timestamp(T.time + 60, 1))  # T has left the history window
    source = connect(double.uri, role="source")
    try:
        walked = walk_collection(staging, source, "shop.items", at=T)
        assert not walked.at_t
        assert [d.get("readConcern", {}).get("level") for d in double.finds()[:2]] == ["snapshot", None]
        assert {c.id for c in walked.mismatches} == {2, 4, 9}  # judged against the oplog after T
    finally:
        source.close()
        double.close()


def test_secantusdb_is_never_asked_for_a_snapshot_read(staging: Any) -> None:
    assert not pins_snapshots(staging)  # it accepts atClusterTime and ignores it


def test_at_t_a_difference_is_a_failure_even_where_the_oplog_shows_a_later_write(staging: Any) -> None:
    """Read at T, nothing is set aside as "written after T": a difference, or a count that is
    not equal, fails; the same candidates judged the stable way are skipped."""
    double = _double(oldest=Timestamp(T.time - 60, 1))
    source = connect(double.uri, role="source")
    try:
        staging.shop.items.update_one({"_id": 3}, {"$set": {"v": -3}})  # a restore that went wrong
        walked = walk_collection(staging, source, "shop.items", at=T)
    finally:
        source.close()
        double.close()
    changes = Changes(T, touched={"shop.items": {id_key(3)}})  # as if the oplog wrote _id 3 after T
    counts = Counts(T, T, {"shop.items": walked.source})
    exact, lenient = Proof(), Proof()
    judge_data(exact, changes, {"shop.items": 5}, {}, walked.mismatches, counts, {"shop.items"})
    judge_data(lenient, changes, {"shop.items": 5}, {"shop.items": 1}, walked.mismatches, counts)
    assert [f["_id"] for f in exact.failures] == ["3"]
    assert exact.documents_compared == 5
    assert lenient.failures == [] and lenient.documents_skipped == 1
    short = Proof()
    judge_data(short, changes, {"shop.items": 4}, {}, [], counts, {"shop.items"})
    assert short.failures[0]["problem"] == "the source held 5 documents at T; the restore 4"
