"""Read the oplog forward from a position, in bounded batches, exactly once each entry.

Plain queries (``ts >= position``), never one long tailable cursor: a cursor's
continuity is the server's promise, and a test server was seen to skip entries under
load. Entries can share a ts (a transaction's operations on some servers): each read
starts at ``>= position`` and skips the entries of that ts already returned, so no
batch boundary ever loses or repeats one.

Each read also proves the oplog was not trimmed under it: trimming removes the oldest
entries first, so when the entry at ``position`` is still there, every entry after it
is too. Only reads that could not show that (a start that is not itself an entry, or
a position that left the oplog) need the separate, costlier look at the oldest entry.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from bson import Timestamp
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import OperationFailure
from pymongo.read_concern import ReadConcern

from ..errors import SourceUnreachable
from ..mongo.codec import RAW_CODEC
from ..timestamps import to_str

log = logging.getLogger(__name__)


def oplog(client: MongoClient[Any]) -> Any:
    return client.local.get_collection("oplog.rs", codec_options=RAW_CODEC)


def newest_entry(client: MongoClient[Any]) -> Any:
    """The newest oplog entry, raw (raises StopIteration on an empty oplog)."""
    return oplog(client).find({}).sort("$natural", DESCENDING).limit(1).next()


def newest_ts(client: MongoClient[Any]) -> Timestamp:
    return oplog(client).find({}, {"ts": 1}).sort("$natural", DESCENDING).limit(1).next()["ts"]


# What a user without a read on ``local.oplog.rs`` gets for reading it (Unauthorized).
UNAUTHORIZED = (13,)


def written_through(client: MongoClient[Any]) -> tuple[Timestamp, Timestamp]:
    """Two bounds on the oplog now, from ``hello`` where the server says (no oplog read, which
    is a full scan on some servers): every entry at or before the first is visible (the
    majority commit point: nothing below it can still appear), and no visible entry is after the
    second (the last write applied). Elsewhere both are the newest entry."""
    last = client.admin.command("hello").get("lastWrite") or {}
    try:
        return last["majorityOpTime"]["ts"], last["opTime"]["ts"]
    except (KeyError, TypeError):
        newest = newest_ts(client)
        return newest, newest


def settled_write(client: MongoClient[Any], timeout_s: float = 30.0) -> Timestamp:
    """The last write now, once the majority commit point has reached it: every write the
    export could have seen is then one a change stream shows."""
    deadline = time.monotonic() + timeout_s
    majority, last = written_through(client)
    while majority < last:
        if time.monotonic() > deadline:
            raise SourceUnreachable(
                f"the majority commit point did not reach the last write {to_str(last)} within {timeout_s:.0f}s",
                "check that a majority of the replica set's members are up and replicating",
            )
        time.sleep(0.05)
        majority, _ = written_through(client)
    return last


def oldest_ts(client: MongoClient[Any]) -> Timestamp:
    return oplog(client).find({}, {"ts": 1}).sort("$natural", ASCENDING).limit(1).next()["ts"]


class OplogReader:
    """``position``: the last entry returned (or the start, exclusive).

    With ``majority``, only majority-committed entries are read (an entry a rollback could
    still undo is never archived), on servers that support that read concern.

    ``unproven_from``: ``None`` while every read so far found the entry it started from
    (nothing it returned can have been preceded by a trimmed entry); otherwise the first
    position from which that was not shown. ``last_query_s`` is the last query's time.
    """

    def __init__(
        self, client: MongoClient[Any], position: Timestamp, batch: int = 5000, majority: bool = False
    ) -> None:
        self.client = client
        self.position = position
        self.batch = batch
        self.unproven_from: Timestamp | None = position
        self.last_query_s = 0.0
        self.query_s = 0.0  # all queries so far
        self._at_position: int | None = None  # entries at ``position`` already returned; None: all of them
        self._collection = oplog(client)
        if majority:
            self._collection = self._collection.with_options(read_concern=ReadConcern("majority"))

    def proven(self) -> None:
        """The caller showed, another way, that nothing was trimmed up to now."""
        self.unproven_from = None

    def close(self) -> None:
        """Nothing to close: every read is a bounded query (the same interface as a tail)."""

    def read(self) -> tuple[list[Any], bool]:
        """(new raw entries in order, caught_up): caught_up when nothing more was there."""
        limit = self.batch + (self._at_position or 1)
        while True:
            found = self._query(limit)
            # Entries at the start position lead the batch (ascending): count only those.
            at_start = sum(1 for _ in itertools.takewhile(lambda e: e["ts"] == self.position, found))
            # Skip what was returned before: all entries at an exclusive start, else as many as
            # were returned at this ts (fewer are there only if the oplog lost them).
            skip = at_start if self._at_position is None else min(self._at_position, at_start)
            if skip < len(found) or len(found) < limit:
                break
            limit *= 2  # a group sharing the start ts larger than the batch: read past it
        self._record_proof(at_start > 0)
        caught_up = len(found) < limit
        out = []
        for entry in found[skip:]:
            ts = entry["ts"]
            self._at_position = (self._at_position or 0) + 1 if ts == self.position else 1
            self.position = ts
            out.append(entry)
        return out, caught_up

    def _record_proof(self, found_start: bool) -> None:
        if found_start and self.unproven_from == self.position:
            self.unproven_from = None
        elif not found_start and self.unproven_from is None:
            self.unproven_from = self.position

    def _query(self, limit: int) -> list[Any]:
        t = time.monotonic()
        try:
            cursor = self._collection.find({"ts": {"$gte": self.position}}).sort("$natural", ASCENDING)
            return list(cursor.limit(limit))
        except OperationFailure as e:
            if self._collection.read_concern.level != "majority":
                raise
            # This server cannot read the oplog at majority: read it locally from now on.
            log.warning("majority reads of the oplog are not supported (%s); reading locally", e.code)
            self._collection = oplog(self.client)
            return self._query(limit)
        finally:
            self.last_query_s = time.monotonic() - t
            self.query_s += self.last_query_s


def pause_for(query_s: float, share: float, floor: float) -> float:
    """How long to wait after a query of ``query_s`` so that querying takes at most
    ``share`` of the time (a server where each oplog read is slow is read less often)."""
    return max(floor, query_s * (1 - share) / share)
