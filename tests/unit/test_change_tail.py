"""The change-stream tail's own bookkeeping, without a server: a transaction whose events a
batch cut in two is held until its end is seen, and a re-open skips exactly what was handed out."""

from __future__ import annotations

import time
from typing import Any

from bson import Timestamp
from pymongo.errors import OperationFailure

from mongo_lifeboat.oplog.capture.change_tail import ChangeStreamTail, history_start

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


class RefusingBefore:
    """A client whose change stream refuses an open before ``oldest`` as mongod does
    (ChangeStreamHistoryLost); it counts the opens."""

    def __init__(self, oldest: int) -> None:
        self.oldest = oldest
        self.opens = 0

    def watch(self, start_at_operation_time: Timestamp, **_: Any) -> Any:
        self.opens += 1
        if start_at_operation_time.time < self.oldest:
            raise OperationFailure("resume point no longer in the oplog", code=286)
        return _Closed()


class _Closed:
    first: Any = None

    def close(self) -> None:
        pass

    def __enter__(self) -> _Closed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def try_next(self) -> Any:
        return self.first


def test_the_history_start_is_searched_for_where_the_server_refuses_an_open_before_it() -> None:
    oldest = int(time.time()) - 3 * 3600 - 17
    client = RefusingBefore(oldest)
    assert history_start(client) == Timestamp(oldest, 0)  # type: ignore[arg-type]
    assert client.opens <= 28  # a year of seconds, halved per open
    # A server that opens anywhere and starts at its oldest event (SecantusDB): that event.
    anywhere = RefusingBefore(0)
    assert history_start(anywhere) is None and anywhere.opens == 1  # no event: nothing to measure by
    _Closed.first = {"clusterTime": Timestamp(oldest, 4)}
    try:
        assert history_start(anywhere) == Timestamp(oldest, 4)
    finally:
        _Closed.first = None


class Trickle:
    """A change stream that is never quiet: one event every ``every_s``, forever (a steady
    trickle of single writes, 50 a second here)."""

    alive = True

    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.n = 0

    def try_next(self) -> dict[str, Any]:
        time.sleep(self.every_s)  # the stream's pace under test, not a race being hidden
        self.n += 1
        return _insert(Timestamp(200, self.n), self.n)


def test_a_stream_that_is_never_quiet_still_hands_out_within_the_read_budget() -> None:
    """Probe of issue 35: at 60 writes/s a read waited for 1,000 events (16 s) before it
    handed any out, and the archiver fell 20-34 s behind."""
    tail = ChangeStreamTail(None, T1)  # type: ignore[arg-type]
    tail._stream, tail._open_at, tail._skip = Trickle(), None, 0
    started = time.monotonic()
    entries, caught_up = tail.read()
    took = time.monotonic() - started
    assert entries and not caught_up
    assert took < 2.0, took  # the budget is 0.2 s; 16 s before (slack for a loaded machine)
    assert len(entries) < 1000
