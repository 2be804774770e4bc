"""Where the archiver reads history from: the oplog, or a change stream (``capture``).

Both give the same entries into the same segments; they differ in how a read is proven
complete and how a lost history shows itself, which is all this module holds:

- the oplog: each read proves itself by finding its start again, else the oldest entry still
  in the oplog must be at or before it (trimming removes oldest first);
- a change stream: the server resumes only where its history reaches, and says so when it
  cannot (:class:`~.change_tail.HistoryLost`); the oplog is never read.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from .change_tail import ChangeStreamTail
from .reader import UNAUTHORIZED, newest_ts, oldest_ts, written_through
from .tail import OplogTail

Capture = Literal["oplog", "change-stream", "auto"]  # as the plan's [deployment] capture


class Reader(Protocol):
    position: Timestamp
    unproven_from: Timestamp | None
    await_s: float
    opens: int
    last_query_s: float

    def read(self) -> tuple[list[Any], bool]: ...

    def proven(self) -> None: ...

    def close(self) -> None: ...


class OplogSource:
    name = "oplog"

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s

    def reader(
        self, client: MongoClient[Any], position: Timestamp, guard: Timestamp, await_s: float
    ) -> Reader:
        return OplogTail(client, position, majority=True, await_s=await_s, settle_s=self.settle_s)

    def newest(self, client: MongoClient[Any]) -> Timestamp:
        return newest_ts(client)

    def drain_to(self, client: MongoClient[Any]) -> Timestamp:
        """What a drain must reach: the oplog's newest entry now."""
        return newest_ts(client)

    def drained(self, position: Timestamp, there: Timestamp, quiet: bool) -> bool:
        """Reaching ``there`` is enough, quiet or not: the tail returns entries in order with no
        hole below what it returned, so everything up to ``there`` is read. (Waiting for a quiet
        read too kept a drain under constant writes going to its timeout.) A quiet read short of
        it is not: the visible point may trail the newest entry."""
        return position >= there

    def resume_after_loss(self, client: MongoClient[Any]) -> Timestamp:
        return oldest_ts(client)

    def after_gap(self, client: MongoClient[Any], position: Timestamp) -> Timestamp | None:
        """The oldest entry, when ``position`` has left the oplog (None: it has not)."""
        oldest = oldest_ts(client)
        return oldest if oldest > position else None

    def lost(self, client: MongoClient[Any], reader: Reader, guard: Timestamp) -> bool:
        """Whether entries after the segment's start may have been trimmed before being read."""
        return reader.unproven_from is not None and oldest_ts(client) > max(reader.unproven_from, guard)


class ChangeStreamSource:
    name = "change-stream"

    def reader(
        self, client: MongoClient[Any], position: Timestamp, guard: Timestamp, await_s: float
    ) -> Reader:
        return ChangeStreamTail(client, position, guard, await_s)

    def newest(self, client: MongoClient[Any]) -> Timestamp:
        return written_through(client)[1]  # the last write, from hello: no oplog read

    def drain_to(self, client: MongoClient[Any]) -> Timestamp:
        """The last write now, from ``hello``."""
        return written_through(client)[1]

    def drained(self, position: Timestamp, there: Timestamp, quiet: bool) -> bool:
        """Reaching the last write, or a read that finds nothing more: the last write may be
        one no stream shows (a system collection's)."""
        return quiet or position >= there

    def resume_after_loss(self, client: MongoClient[Any]) -> Timestamp:
        """Where the stream goes on from once its history was lost: the oldest entry where
        the oplog may be read (everything after it is still there), else the newest write."""
        try:
            return oldest_ts(client)
        except OperationFailure as e:
            if e.code not in UNAUTHORIZED:
                raise
            return self.newest(client)

    def after_gap(self, client: MongoClient[Any], position: Timestamp) -> Timestamp | None:
        return None  # not known before the stream is opened: it raises HistoryLost then

    def lost(self, client: MongoClient[Any], reader: Reader, guard: Timestamp) -> bool:
        return False  # the stream raises HistoryLost itself


def oplog_readable(client: MongoClient[Any]) -> bool:
    """Whether this user may read ``local.oplog.rs`` (what ``capture = "auto"`` asks)."""
    try:
        client.local["oplog.rs"].find_one({}, {"ts": 1})
        return True
    except OperationFailure as e:
        if e.code in UNAUTHORIZED:
            return False
        raise


def uses_change_stream(capture: Capture, client: MongoClient[Any]) -> bool:
    return capture == "change-stream" or (capture == "auto" and not oplog_readable(client))


def choose(capture: Capture, client: MongoClient[Any], settle_s: float) -> OplogSource | ChangeStreamSource:
    if uses_change_stream(capture, client):
        return ChangeStreamSource()
    return OplogSource(settle_s)
