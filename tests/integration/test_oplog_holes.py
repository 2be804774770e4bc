"""Issue 20, item 13: the archiver never passes a hole in the oplog.

A server may answer a query on the oplog with entries past one whose write is still in
flight (SecantusDB's ``find`` is not held back to a visible point as mongod's forward oplog
reads are). SecantusDB cannot be made to hold a write in flight on demand, so these tests
use a wire-level double that can (``tests/support/wire_double.py``, ``OplogDouble``): it
answers as SecantusDB does, with ts 11 visible while ts 10 is still being written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bson import Timestamp
from pymongo import MongoClient

from mongo_lifeboat.errors import OplogHole
from mongo_lifeboat.oplog.capture.tail import BATCH_ENTRIES, OplogTail
from mongo_lifeboat.oplog.segments import iter_entries, list_segments
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.waiting import wait_for
from ..support.wire_double import OplogDouble


@pytest.fixture
def double() -> Iterator[OplogDouble]:
    d = OplogDouble()
    yield d
    d.close()


def _read_until(tail: OplogTail, last: Timestamp, timeout: float = 30.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while not got or got[-1]["ts"] < last:
        assert time.monotonic() < deadline, f"read {[e['ts'] for e in got]}, waiting for {last}"
        got += tail.read()[0]
    return got


def test_an_entry_written_after_a_later_one_is_visible_is_read_in_order(double: OplogDouble) -> None:
    written = double.write(9)
    ten, eleven = double.mint(2)
    double.commit(eleven)  # 11 is visible while 10 is still in flight
    with MongoClient(double.uri) as client:
        tail = OplogTail(client, written[0], await_s=0.1, settle_s=0.5)
        first, _ = tail.read()  # the open: its query sees 11 past the hole at 10
        assert first == []  # held back until the settle margin has passed
        double.commit(ten)
        later = double.write(3)
        got = first + _read_until(tail, later[-1])
    assert [e["ts"] for e in got] == [*written[1:], ten, eleven, *later]


def test_an_entry_later_than_the_settle_margin_is_said_loudly_never_passed(double: OplogDouble) -> None:
    written = double.write(5)
    ten, eleven = double.mint(2)
    double.commit(eleven)
    with MongoClient(double.uri) as client:
        tail = OplogTail(client, written[0], await_s=0.1, settle_s=0.2)
        got = _read_until(tail, eleven)  # the margin passed with 10 still in flight
        assert [e["ts"] for e in got] == [*written[1:], eleven]
        double.commit(ten)
        with pytest.raises(
            OplogHole, match=f"{ten.time}:{ten.inc} appeared after {eleven.time}:{eleven.inc}"
        ):
            _read_until(tail, ten, timeout=10)


def test_the_archive_holds_both_in_order(double: OplogDouble, tmp_path: Any) -> None:
    """The acceptance: the archiver against the double. It resumes where its archive ends,
    and its open sees ts 11 while ts 10 is in flight; 10 is committed after that. The archive
    holds every entry once, in order, 10 and 11 included."""
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    double.write(3)
    with _archiver(repo, double):  # a first run: the archive ends at a known entry
        end = double.write(2)[-1]
        wait_for(lambda: _archived_to(repo) >= end, "the first run to archive the writes")
    ten, eleven = double.mint(2)
    double.commit(eleven)
    opens = _opens(double)
    with _archiver(repo, double):
        wait_for(lambda: _opens(double) > opens, "the second run to open its cursor at the archive's end")
        double.commit(ten)  # well inside the settle margin (5 s) after the open
        last = double.write(2)[-1]
        wait_for(lambda: _archived_to(repo) >= last, "the archive to reach the last write")
    stamps = [e["ts"] for e in iter_entries(repo.storage, list_segments(repo.storage, "rs0"))]
    assert stamps == [*(s for s in stamps if s < ten), ten, eleven, *(s for s in stamps if s > eleven)]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps)) and stamps[-1] == last


def test_a_stop_archives_everything_the_oplog_held_when_it_came(double: OplogDouble, tmp_path: Any) -> None:
    """On stop, the archiver drains what is in the oplog. A tailing cursor finds nothing new
    while a write is in flight below a committed one (its batches stop at the visible point):
    the drain must not take that for "caught up" and leave the committed entry behind."""
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    double.write(3)
    with _archiver(repo, double):
        first = double.write(2)[-1]
        wait_for(lambda: _archived_to(repo) >= first, "the archive to reach the first writes")
        flying, committed = double.mint(2)
        double.commit(committed)  # visible, behind a write still in flight: the cursor stops short
        # The in-flight write lands well after a tailing read gives up waiting (0.05 s here).
        threading.Timer(1.5, double.commit, (flying,)).start()
    stamps = [e["ts"] for e in iter_entries(repo.storage, list_segments(repo.storage, "rs0"))]
    assert stamps[-2:] == [flying, committed]
    assert stamps == sorted(stamps) and len(stamps) == len(set(stamps))


def _archiver(repo: Repository, double: OplogDouble) -> Any:
    return archiving(repo, double.uri, segment_seconds=0.2, wait_started=True, settle_s=5.0)


def _archived_to(repo: Repository) -> Timestamp:
    segments = list_segments(repo.storage, "rs0")
    return max((s.end for s in segments), default=Timestamp(0, 0))


def _opens(double: OplogDouble) -> int:
    """Tailable cursors opened on the double's oplog so far."""
    with double._lock:
        return sum(1 for name, _, doc in double.log if name == "find" and doc.get("tailable"))


def test_a_backlog_is_read_a_thousand_entries_per_round_trip(double: OplogDouble) -> None:
    """Issue 21, item 4: left to choose, SecantusDB answers a getMore with 101 entries, and an
    archiver behind 16 busy writers never caught up (15 s behind). The tail asks for its own
    batch size, so a backlog of 3,500 entries takes the open and three getMores."""
    first = double.write(1)[0]
    backlog = double.write(3_500)
    with MongoClient(double.uri) as client:
        tail = OplogTail(client, first, await_s=0.1, settle_s=0.0)
        got = _read_until(tail, backlog[-1])
    assert [e["ts"] for e in got] == backlog
    opened = [d for name, _, d in double.log if name == "find" and d.get("tailable")]
    assert [d["batchSize"] for d in opened] == [BATCH_ENTRIES]
    assert BATCH_ENTRIES >= 1000
    assert len([name for name, _, _ in double.log if name == "getMore"]) <= 4  # 101 a time: 35
