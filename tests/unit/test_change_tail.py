"""The change-stream tail's own bookkeeping, without a server: a transaction whose events a
batch cut in two is held until its end is seen, and a re-open skips exactly what was handed out."""

from __future__ import annotations

from typing import Any

from bson import Timestamp

from mongo_lifeboat.oplog.change_tail import ChangeStreamTail

T1, T2, T3 = Timestamp(100, 1), Timestamp(100, 2), Timestamp(100, 3)


def _insert(ts: Timestamp, _id: int, txn: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "operationType": "insert",
        "clusterTime": ts,
        "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": _id},
        "fullDocument": {"_id": _id},
    }
    if txn is not None:
        event.update(lsid={"id": b"s"}, txnNumber=txn)
    return event


def test_a_transaction_cut_by_a_batch_is_held_until_its_end() -> None:
    tail = ChangeStreamTail(None, T1)  # type: ignore[arg-type]  (no server is asked here)
    first = tail._entries([_insert(T1, 1), _insert(T2, 2, txn=7), _insert(T2, 3, txn=7)], complete=False)
    assert [(e["ts"], e["op"]) for e in first] == [(T1, "i")]  # the transaction may go on
    second = tail._entries([_insert(T2, 4, txn=7), _insert(T3, 5)], complete=False)
    assert [(e["ts"], e["op"]) for e in second] == [(T2, "c"), (T3, "i")]
    assert [op["o"]["_id"] for op in second[0]["o"]["applyOps"]] == [2, 3, 4]  # whole, once


def test_a_quiet_stream_ends_a_transaction() -> None:
    tail = ChangeStreamTail(None, T1)  # type: ignore[arg-type]
    assert tail._entries([_insert(T2, 2, txn=7)], complete=True)[0]["o"]["applyOps"][0]["o"]["_id"] == 2


def test_handing_out_skips_the_start_and_counts_what_a_reopen_must_skip() -> None:
    tail = ChangeStreamTail(None, T1)  # type: ignore[arg-type]
    tail._skip_ts, tail._skip, tail._open_at = T1, float("inf"), None  # as an open from the archive
    out = tail._hand_out([{"ts": T1, "op": "i"}, {"ts": T2, "op": "i"}, {"ts": T2, "op": "d"}])
    assert [(e["ts"], e["op"]) for e in out] == [(T2, "i"), (T2, "d")]  # T1 was archived already
    assert (tail.position, tail._at_position) == (T2, 2)  # a re-open at T2 skips these two only
