"""Where history is read from: the oplog, or a change stream (the plan's ``capture``). One
:class:`Source` interface, chosen once per run by :func:`resolve` (``auto``: the oplog where this
user may read it) and passed down: the archiver tails it, a base backup anchors and brackets its
export with it, a drill's proof and an undo read what happened since a position through it, and
``check`` measures how far back it reaches. A third source (a change stream through ``mongos``)
is one more class here.

Both give the same entries into the same segments; they differ in how a read is proven
complete and how a lost history shows itself:

- the oplog: each read proves itself by finding its start again, else the oldest entry still
  in the oplog must be at or before it (trimming removes oldest first);
- a change stream: the server resumes only where its history reaches, and says so when it
  cannot (:class:`~.change_tail.HistoryLost`); the oplog is never read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ..reader import UNAUTHORIZED, OplogReader, newest_ts, oldest_ts, settled_write, written_through
from .anchor import Anchor, oplog_anchor, stream_anchor
from .change_tail import ChangeStreamTail
from .since import OplogSince, Since, StreamSince
from .tail import SETTLE_S, OplogTail
from .window import HistoryWindow, oplog_window, stream_window

Capture = Literal["oplog", "change-stream", "auto"]  # as the plan's [deployment] capture


class BracketReader(Protocol):
    """What a base backup's capture reads through: reads in order, each saying whether it
    caught up, and whether it proved nothing was trimmed before it (``unproven_from``)."""

    position: Timestamp
    unproven_from: Timestamp | None
    query_s: float
    last_query_s: float

    def read(self) -> tuple[list[Any], bool]: ...

    def proven(self) -> None: ...

    def close(self) -> None: ...


class Reader(BracketReader, Protocol):
    """What the archiver tails through: the same, held open (a read waits ``await_s``)."""

    await_s: float
    opens: int


class Source(Protocol):
    name: Literal["oplog", "change-stream"]
    entry_bytes: bool  # whether entries are the oplog's own bytes (their digests prove a chain)

    # -- the archiver: tailing, draining, losing history
    def reader(
        self, client: MongoClient[Any], position: Timestamp, guard: Timestamp, await_s: float
    ) -> Reader: ...

    def newest(self, client: MongoClient[Any]) -> Timestamp: ...

    def drain_to(self, client: MongoClient[Any]) -> Timestamp: ...

    def drained(self, position: Timestamp, there: Timestamp, quiet: bool) -> bool: ...

    def resume_after_loss(self, client: MongoClient[Any]) -> Timestamp: ...

    def after_gap(self, client: MongoClient[Any], position: Timestamp) -> Timestamp | None: ...

    def lost(self, client: MongoClient[Any], reader: Reader, guard: Timestamp) -> bool: ...

    # -- a base backup: its anchor, its bracket, its consistent point
    def anchor(self, client: MongoClient[Any]) -> Anchor: ...

    def bracket_reader(self, client: MongoClient[Any], anchor: Anchor) -> BracketReader: ...

    def consistent_floor(self, client: MongoClient[Any]) -> Timestamp | None: ...

    # -- a drill's proof, an undo: what happened since a position; check: how far back it reaches
    def since(self, client: MongoClient[Any], after: Timestamp) -> Since: ...

    def window(self, client: MongoClient[Any], now: datetime) -> HistoryWindow | None: ...


class OplogSource:
    name: Literal["oplog", "change-stream"] = "oplog"
    entry_bytes = True

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

    def anchor(self, client: MongoClient[Any]) -> Anchor:
        return oplog_anchor(client)

    def bracket_reader(self, client: MongoClient[Any], anchor: Anchor) -> BracketReader:
        return OplogReader(client, anchor.start_ts)

    def consistent_floor(self, client: MongoClient[Any]) -> Timestamp | None:
        return None  # the oplog's entries are every write: the last one read is the point

    def since(self, client: MongoClient[Any], after: Timestamp) -> Since:
        return OplogSince(client, after)

    def window(self, client: MongoClient[Any], now: datetime) -> HistoryWindow | None:
        return oplog_window(client)


class ChangeStreamSource:
    name: Literal["oplog", "change-stream"] = "change-stream"
    entry_bytes = False
    BRACKET_AWAIT_S = 0.5  # how long a backup's stream read waits for events

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

    def anchor(self, client: MongoClient[Any]) -> Anchor:
        return stream_anchor(client)

    def bracket_reader(self, client: MongoClient[Any], anchor: Anchor) -> BracketReader:
        return ChangeStreamTail(client, anchor.start_ts, anchor.guard, self.BRACKET_AWAIT_S)

    def consistent_floor(self, client: MongoClient[Any]) -> Timestamp | None:
        """The last write once the export is done: writes no stream shows (a system
        collection's) still count as seen."""
        return settled_write(client)

    def since(self, client: MongoClient[Any], after: Timestamp) -> Since:
        return StreamSince(client, after)

    def window(self, client: MongoClient[Any], now: datetime) -> HistoryWindow | None:
        """Measured by the oplog where it may be read (the stream is read from it), else by
        where the stream still opens."""
        return oplog_window(client) if oplog_readable(client) else stream_window(client, now)


def oplog_readable(client: MongoClient[Any]) -> bool:
    """Whether this user may read ``local.oplog.rs`` (what ``capture = "auto"`` asks)."""
    try:
        client.local["oplog.rs"].find_one({}, {"ts": 1})
        return True
    except OperationFailure as e:
        if e.code in UNAUTHORIZED:
            return False
        raise


def resolve(capture: Capture, client: MongoClient[Any], settle_s: float = SETTLE_S) -> Source:
    """The source ``capture`` names; ``auto``: the oplog where this user may read it."""
    if capture == "change-stream" or (capture == "auto" and not oplog_readable(client)):
        return ChangeStreamSource()
    return OplogSource(settle_s)
