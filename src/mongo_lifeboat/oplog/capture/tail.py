"""Follow the oplog through one tailable, awaitData cursor, as every oplog follower does.

A plain query per read costs a whole oplog scan on servers that cannot seek by ``ts``
(SecantusDB: 40k entries drained in 14 s by queries, 1.7 s by one tailing cursor), so an
archiver that polls falls behind any busy source. The cursor is opened once and re-opened
only when the server ends it; each open starts at the last entry returned (``$gte``) and
proves, by finding that entry again, that nothing after it was trimmed before it was read
(the same proof :class:`OplogReader` makes on every read). Entries that share a ``ts``
(a transaction's operations on some servers) are skipped at a re-open exactly as many as
were returned, so no re-open loses or repeats one. While the cursor lives, the server
returns the entries after each other without a hole: a capped collection's tailable cursor
ends (and is re-opened, proven) rather than skip trimmed entries.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import bson
from bson import Timestamp
from pymongo import CursorType, MongoClient
from pymongo.errors import CursorNotFound, OperationFailure
from pymongo.read_concern import ReadConcern

from ...errors import OplogHole
from ...mongo.codec import RAW_CODEC
from ...remedies import Remedy
from ...timestamps import to_str
from ..reader import oplog

log = logging.getLogger(__name__)
# Entries asked for per round trip. Left unsaid, a server picks: mongod fills 16 MB, SecantusDB
# returns 101, and an archiver 101 entries per round trip behind a busy server never catches
# up (16 clients writing batches: 15 s behind). A cursor returning full batches is catching up.
BATCH_ENTRIES = 1000
_FULL = BATCH_ENTRIES
_WATCH = 3  # batches checked after an open or a catch-up
# How long an open's entries wait before they are read again: longer than any oplog write
# stays in flight (the rows of one commit: milliseconds), short beside the segment interval.
SETTLE_S = 1.0


class OplogTail:
    """The same contract as :class:`OplogReader` (``position``, ``unproven_from``,
    ``proven()``, ``read()``), read through one cursor.

    ``await_s``: how long a read waits for new entries when there are none (the server
    holds the request; no polling). ``opens``: how many times the cursor was opened.
    """

    def __init__(
        self,
        client: MongoClient[Any],
        position: Timestamp,
        majority: bool = False,
        await_s: float = 0.5,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.client = client
        self.position = position
        self.await_s = await_s
        self.unproven_from: Timestamp | None = position
        self.last_query_s = 0.0  # the last open's time (a scan, on some servers)
        self.query_s = 0.0
        self.opens = 0
        self._majority = majority
        self._at_position: int | None = None  # entries at ``position`` returned; None: all of them
        self._cursor: Any = None
        self._skip_ts: Timestamp | None = None  # the position the cursor was opened at
        self._skip = 0.0  # entries at it still to skip (returned before the re-open)
        self._open_at: Timestamp | None = None  # set until the open's first entry is seen
        self._fill_after: Timestamp | None = None  # the first batch after an open is checked from here
        self._watch = _WATCH  # batches still checked for skipped positions (after an open or a catch-up)
        self.settle_s = settle_s
        # After an open: what was read, held until the settle margin has passed (see _settle).
        self._held: list[Any] | None = None
        self._hold_until = 0.0
        self._held_more = False  # whether a batch after the open's own came during the margin
        # What the settling re-read handed out, for the batches that overlap it.
        self._settled_upto: Timestamp | None = None
        self._settled_raw: set[bytes] = set()

    def proven(self) -> None:
        self.unproven_from = None

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def _collection(self) -> Any:
        coll = oplog(self.client)
        return coll.with_options(read_concern=ReadConcern("majority")) if self._majority else coll

    def _open(self) -> list[Any] | None:
        """Open at the position; the first batch (None: the server had nothing within await_s)."""
        t = time.monotonic()
        # Raw batches: one server round trip per read, however busy the source (a document
        # cursor would wait on getMore after getMore while entries keep coming).
        self._cursor = (
            self._collection()
            .find_raw_batches({"ts": {"$gte": self.position}}, cursor_type=CursorType.TAILABLE_AWAIT)
            .max_await_time_ms(max(1, int(self.await_s * 1000)))
            .batch_size(BATCH_ENTRIES)
        )  # a server's batches are bounded by bytes too (16 MB): memory stays bounded
        self._open_at = self._skip_ts = self.position
        self._skip = math.inf if self._at_position is None else self._at_position
        self.opens += 1
        self._watch = _WATCH
        self._held, self._hold_until, self._held_more = [], time.monotonic() + self.settle_s, False
        try:
            first = self._next_batch()
            self._fill_after = first[-1]["ts"] if first else self.position
            return first
        except OperationFailure as e:
            if not self._majority or isinstance(e, CursorNotFound):
                raise
            # This server cannot read the oplog at majority: read it locally from now on.
            log.warning("majority reads of the oplog are not supported (%s); reading locally", e.code)
            self._majority = False
            return self._open()
        finally:
            self.last_query_s = time.monotonic() - t
            self.query_s += self.last_query_s

    def _next_batch(self) -> list[Any] | None:
        try:
            raw = self._cursor.next()
        except StopIteration:
            return None
        return bson.decode_all(raw, RAW_CODEC)

    def read(self) -> tuple[list[Any], bool]:
        """(new raw entries in order, caught_up): at most one server round trip; caught_up
        when the server had nothing more within ``await_s``."""
        if self._held is not None and time.monotonic() >= self._hold_until:
            settled = self._settle()
            out = self._hand_out(settled)
            if settled:  # what later batches may repeat of it
                self._settled_upto, self._settled_raw = settled[-1]["ts"], {bytes(e.raw) for e in settled}
            return out, False
        try:
            if self._cursor is None or not self._cursor.alive:
                batch = self._open()
                if batch is None:  # the open found nothing at all, having waited await_s
                    self._record_proof(False)
            else:
                batch = self._next_batch()
                if batch and self._fill_after is not None:
                    batch = self._filled(self._fill_after, batch)
                    self._fill_after = None
                elif batch and self._held is None and self._watch > 0 and _skips(self.position, batch):
                    batch = self._filled(self.position, batch, whole=True)
                # The batches right after catching up (full batches, then a partial one) are where
                # a server was seen to skip entries; in steady tailing, position jumps are the
                # clock ticks some servers spend on hello, not worth a scan each.
                self._watch = _WATCH if batch and len(batch) >= _FULL else max(self._watch - 1, 0)
        except OperationFailure as e:
            if not isinstance(e, CursorNotFound) and self._open_at is not None:
                raise  # the open itself failed: not a cursor that ended
            # Killed by the server (or the oplog rolled past it): the next read re-opens
            # from the position and proves it again.
            log.info("the oplog cursor ended (%s); re-opening", getattr(e, "code", e))
            self.close()
            return [], False
        if batch is None:
            return [], not self._held  # entries held back are not caught up with yet
        if self._held is not None:  # settling: kept (the open is proven by its first entry)
            if self._open_at is not None and batch:
                self._record_proof(batch[0]["ts"] == self._open_at)
            if self._fill_after is None:  # a batch of the cursor after its open's
                self._held_more = True
            self._held.extend(batch)
            self._fill_after = None  # the settling re-read covers what this fill would
            return [], False
        return self._hand_out(batch), False

    def _settle(self) -> list[Any]:
        """What the open and the batches after it read, read again once the settle margin
        has passed, by one plain query up to the newest of them.

        An open is a query, and a server may answer a query with entries past one whose
        write is still in flight (SecantusDB does: its ``find`` on the oplog is not held
        back to a visible point as mongod's forward oplog reads are); a reader that passed
        such a hole would never see the late entry. Everything that was in flight when the
        open read has been written by the time the margin has passed, so this re-read has
        no hole below its newest entry. (Batches of the tailing cursor after that are read
        up to the server's visible point: they need no such margin.)"""
        held, self._held = self._held or [], None
        if not held:
            return []
        upto = max(e["ts"] for e in held)
        plain = list(
            self._collection().find({"ts": {"$gte": self._skip_ts, "$lte": upto}}).sort("$natural", 1)
        )
        if len(plain) != len(held):
            log.info(
                "the settling re-read found %d oplog entries where the open read %d", len(plain), len(held)
            )
        if not self._held_more:
            # Entries written just before the open that its query did not see yet, and that
            # the cursor (which goes on from the open's visible point) will not return: the
            # first batch after this is filled from here. (When the cursor returned a batch
            # during the margin, the re-read reached past them already.)
            self._fill_after = upto
        return plain

    def _hand_out(self, batch: list[Any]) -> list[Any]:
        out: list[Any] = []
        for entry in batch:
            ts = entry["ts"]
            if self._open_at is not None:
                self._record_proof(ts == self._open_at)
            if self._skip > 0 and ts == self._skip_ts:
                self._skip -= 1
                continue
            self._skip = 0
            if self._settled_upto is not None:  # a batch that overlaps the settling re-read
                if ts <= self._settled_upto:
                    if bytes(entry.raw) in self._settled_raw:
                        continue  # handed out by the re-read already
                    self._late(entry)
                self._settled_upto, self._settled_raw = None, set()
            if ts < self.position:
                self._late(entry)
            self._at_position = (self._at_position or 0) + 1 if ts == self.position else 1
            self.position = ts
            out.append(entry)
        return out

    def _late(self, entry: Any) -> None:
        raise OplogHole(
            f"oplog entry {to_str(entry['ts'])} appeared after {to_str(self.position)} had been read: "
            f"the source made it visible more than {self.settle_s:g}s after later entries",
            "the archive may miss it: {do} so restores start after it",
            Remedy("backup"),
        )

    def _filled(self, after: Timestamp, batch: list[Any], whole: bool = False) -> list[Any]:
        """A batch with what the cursor skipped before it (or, ``whole``, anywhere in it).

        A server was seen (SecantusDB 0.7) to leave entries out of a tailable cursor's batches
        while writes go on: entries committed between the open and the first getMore, and
        entries around the moment a cursor catching up reaches the newest entry. So the first
        batch after an open, and any batch whose positions jump (see :func:`_skips`), is read
        again by a plain query over the same stretch, which is authoritative. Where nothing
        was skipped (mongod) this is one cheap query per open."""
        newer = [e for e in batch if e["ts"] > after]
        if not newer:
            return batch
        upto = newer[-1 if whole else 0]["ts"]
        plain = list(self._collection().find({"ts": {"$gt": after, "$lte": upto}}).sort("$natural", 1))
        if len(plain) > sum(1 for e in newer if e["ts"] <= upto):
            log.info("re-read %d oplog entries the cursor skipped after opening", len(plain))
        # What the batch holds at or before ``after`` is kept as it is: handed out already
        # (and dropped as such), or late (and said so).
        return [e for e in batch if e["ts"] <= after] + plain + [e for e in newer if e["ts"] > upto]

    def _record_proof(self, found_start: bool) -> None:
        start = self._open_at
        self._open_at = None
        if found_start and self.unproven_from == start:
            self.unproven_from = None
        elif not found_start and self.unproven_from is None:
            self.unproven_from = start


def _skips(position: Timestamp, batch: list[Any]) -> bool:
    """Whether the positions from ``position`` through ``batch`` jump where entries may be
    missing. Within a second a server counts its entries one by one (``inc`` + 1; entries of
    one transaction may share a ts), and a new second starts at 1: a larger step is a
    position that was skipped, or never used — either way worth one query to tell."""
    prev = position
    for entry in batch:
        ts = entry["ts"]
        if ts.time == prev.time:
            if ts.inc > prev.inc + 1:
                return True
        elif ts.time > prev.time and ts.inc > 1:
            return True
        prev = ts
    return False
