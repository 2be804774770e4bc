"""Follow a deployment's change stream in the archive's entry form: the capture source for
deployments whose oplog cannot be read (issue 22).

It keeps :class:`~.tail.OplogTail`'s contract (``position``, ``unproven_from``, ``proven()``,
``read()``, ``close()``), so the archiver, its segments, chain, gaps and drain do not fork.

Resuming: the stream is opened at the last archived position (``startAtOperationTime``,
inclusive), and the entries at that position are skipped: all of them when starting from the
archive (a segment never splits a position), as many as were handed out when a cursor that died
is re-opened. (An entry's position is its event's cluster time; the events of one transaction
are one entry.) mongod refuses to start before its history with ``ChangeStreamHistoryLost``;
SecantusDB starts at its oldest event instead, so an open whose first entry is later than its
start is checked against the oldest oplog entry where this user may read it. Either way a lost
history is raised as :class:`HistoryLost`, which the archiver records as a gap. The resume token
is not what is kept: a token carries the document's ``_id``, and segment names and metadata are
not encrypted, while the position says as much.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import bson
from bson import Timestamp
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ...errors import HistoryLost, LifeboatError
from ...mongo.codec import RAW_CODEC
from ..reader import oldest_ts, settled_write
from .change_events import Event, same_transaction, to_entries

log = logging.getLogger(__name__)
HISTORY_LOST = (286, 280)  # ChangeStreamHistoryLost, ChangeStreamFatalError
BATCH_EVENTS = 1000  # events asked for per round trip (see tail.BATCH_ENTRIES)
# A read hands out what it has once this long has passed: a stream under steady writes is never
# quiet, so "until quiet or a full batch" would hold 1,000 events back (16 s at 60 writes/s).
READ_BUDGET_S = 0.2


class ChangeStreamTail:
    """``position``: the last entry archived or returned (entries after it are read).
    ``guard``: an entry at or before which the history must still reach for nothing to be lost
    (the position itself; right after a gap, the oldest entry archiving went on from)."""

    def __init__(
        self,
        client: MongoClient[Any],
        position: Timestamp,
        guard: Timestamp | None = None,
        await_s: float = 0.5,
    ) -> None:
        self.client = client
        self.position = position
        self.guard = guard or position
        self.await_s = await_s
        self.unproven_from: Timestamp | None = None  # the server proves a resume, or refuses it
        self.last_query_s = 0.0
        self.query_s = 0.0
        self.opens = 0
        self._at_position: int | None = None  # entries at ``position`` returned; None: all of them
        self._stream: Any = None
        self._open_at: Timestamp | None = None  # set until the open's first entry is seen
        self._skip_ts: Timestamp | None = None
        self._skip: float = 0
        self._pending: list[Event] = []  # a transaction's events, until its end is seen

    def proven(self) -> None:
        self.unproven_from = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _open(self) -> None:
        t = time.monotonic()
        try:
            self._stream = self.client.watch(
                show_expanded_events=True,
                start_at_operation_time=self.position,
                max_await_time_ms=max(1, int(self.await_s * 1000)),
                batch_size=BATCH_EVENTS,
            )
        except OperationFailure as e:
            raise self._lost(e) from e
        finally:
            self.last_query_s = time.monotonic() - t
            self.query_s += self.last_query_s
        self.opens += 1
        self._skip_ts = self._open_at = self.position
        self._skip = math.inf if self._at_position is None else self._at_position
        self._pending = []

    def _lost(self, e: OperationFailure) -> LifeboatError:
        if e.code in HISTORY_LOST:
            return HistoryLost(
                self.position, f"the change stream no longer reaches {self.position}: {e.code}"
            )
        return LifeboatError(f"the change stream failed: {e}")

    def read(self) -> tuple[list[Any], bool]:
        """(new entries in order, caught_up): at most one batch of events, or what arrived
        within ``READ_BUDGET_S``; caught_up when the server had nothing more within ``await_s``."""
        if self._stream is None or not self._stream.alive:
            self._open()
        events: list[Event] = []
        caught_up = False
        deadline = time.monotonic() + min(READ_BUDGET_S, self.await_s)
        try:
            while len(events) < BATCH_EVENTS:
                event = self._stream.try_next()
                if event is None:
                    caught_up = True
                    break
                events.append(event)
                if time.monotonic() >= deadline:
                    break  # a steady stream is never quiet: hand out what has arrived
        except OperationFailure as e:
            self.close()
            raise self._lost(e) from e
        return self._hand_out(self._entries(events, caught_up)), caught_up

    def _entries(self, events: list[Event], complete: bool) -> list[dict[str, Any]]:
        """The entries of these events; a transaction whose end may still be coming is held
        back (its events share a cluster time: one more event, or a quiet stream, ends it)."""
        events = self._pending + events
        self._pending = []
        if not complete and events and events[-1].get("txnNumber") is not None:
            last = events[-1]
            cut = len(events)
            while cut > 0 and same_transaction(events[cut - 1], last):
                cut -= 1
            events, self._pending = events[:cut], events[cut:]
        return list(to_entries(events))

    def _hand_out(self, entries: list[dict[str, Any]]) -> list[Any]:
        out = []
        for entry in entries:
            ts = entry["ts"]
            if self._open_at is not None:
                if ts != self._open_at:
                    self._check_reaches(max(self._open_at, self.guard), ts)
                self._open_at = None
            if self._skip > 0 and ts == self._skip_ts:
                self._skip -= 1
                continue
            self._skip = 0
            if entry.get("wall") is None:
                entry.pop("wall", None)
            self._at_position = (self._at_position or 0) + 1 if ts == self.position else 1
            self.position = ts
            out.append(RawBSONDocument(bson.encode(entry), RAW_CODEC))
        return out

    def _check_reaches(self, start: Timestamp, first: Timestamp) -> None:
        """The stream began at ``first``, after ``start``: fine where nothing between was an
        event (a no-op entry, another database), lost where the oplog no longer reaches
        ``start``. Where the oplog may not be read, the server is trusted (mongod refuses an
        open before its history; it does not start later instead)."""
        try:
            oldest = oldest_ts(self.client)
        except OperationFailure as e:
            log.debug("the oplog cannot be read (%s): the server's open is trusted", e.code)
            return
        if oldest > start:
            self.close()
            raise HistoryLost(
                start, f"the change stream starts at {first}; its history no longer reaches {start}"
            )


def streamed_through_now(client: MongoClient[Any], position: Timestamp) -> Iterator[Any]:
    """The change stream's entries after ``position`` through the last write now: the live
    history past an archive, where the oplog may not be read."""
    end = settled_write(client)
    tail = ChangeStreamTail(client, position, await_s=0.2)
    try:
        while True:
            entries, caught_up = tail.read()
            yield from entries
            if caught_up or tail.position >= end:
                return
    finally:
        tail.close()


def history_start(client: MongoClient[Any], search_s: int = 366 * 86400) -> Timestamp | None:
    """The oldest second a change stream still opens at: how far back a resume works, without
    reading the oplog. mongod refuses an open before its history (``ChangeStreamHistoryLost``),
    so the boundary is searched for, one open per step; a server that starts at its oldest event
    instead (SecantusDB) gives it as the first event of an open at the epoch. None: the stream
    shows no event to measure by."""
    try:
        with client.watch(start_at_operation_time=Timestamp(1, 0), max_await_time_ms=1, batch_size=1) as s:
            first = s.try_next()
        return first["clusterTime"] if first else None
    except OperationFailure as e:
        if e.code not in HISTORY_LOST:
            raise
    now = int(time.time())
    refused, accepted = now - search_s, now  # seconds: an open at ``accepted`` always works
    if _opens_at(client, Timestamp(refused, 0)):
        return Timestamp(refused, 0)  # more than the search reaches: a year is plenty
    while accepted - refused > 1:
        middle = (refused + accepted) // 2
        if _opens_at(client, Timestamp(middle, 0)):
            accepted = middle
        else:
            refused = middle
    return Timestamp(accepted, 0)


def _opens_at(client: MongoClient[Any], position: Timestamp) -> bool:
    try:
        # (a first batch is asked for: the server checks the start when it reads the first one)
        client.watch(start_at_operation_time=position, max_await_time_ms=1, batch_size=1).close()
        return True
    except OperationFailure as e:
        if e.code in HISTORY_LOST:
            return False
        raise
