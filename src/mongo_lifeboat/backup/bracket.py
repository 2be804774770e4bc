"""The oplog bracket around a dump (DESIGN §3).

``start_ts`` is chosen before the export, the oplog is captured from there while the
export runs, and ``end_ts`` is the newest entry once the export is done. The capture
proves it saw every entry: after each batch it checks that the oldest entry still in
the oplog is no newer than the position the batch started from (capped-collection
trimming removes oldest first, so nothing after that position can have been lost).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import Timestamp
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import PyMongoError

from ..errors import OplogOverflow, UnsupportedSource
from ..mongo.codec import RAW_CODEC
from ..repo.objects import ObjectWriter
from ..timestamps import just_before, to_str, wall_of

_BATCH = 5000


def oplog(client: MongoClient[Any]) -> Any:
    return client.local.get_collection("oplog.rs", codec_options=RAW_CODEC)


def newest_ts(client: MongoClient[Any]) -> Timestamp:
    doc = oplog(client).find({}, {"ts": 1}).sort("$natural", DESCENDING).limit(1).next()
    return doc["ts"]


def oldest_ts(client: MongoClient[Any]) -> Timestamp:
    doc = oplog(client).find({}, {"ts": 1}).sort("$natural", ASCENDING).limit(1).next()
    return doc["ts"]


def check_has_oplog(client: MongoClient[Any]) -> None:
    try:
        next(oplog(client).find({}, {"ts": 1}).limit(1))
    except StopIteration as e:
        raise UnsupportedSource("the source oplog is empty") from e
    except PyMongoError as e:
        raise UnsupportedSource(
            f"cannot read the source oplog (local.oplog.rs): {e}",
            "Lifeboat needs a replica set (a single-node one is fine) and a user with the backup role",
        ) from e


@dataclass(frozen=True)
class Anchor:
    """Where capture begins: ``start_ts`` (exclusive) and an entry that must still exist."""

    start_ts: Timestamp
    must_exist: Timestamp


def choose_anchor(client: MongoClient[Any]) -> Anchor:
    """Oldest open transaction's first entry, else the newest oplog entry."""
    newest = newest_ts(client)
    open_txn: Timestamp | None = None
    try:
        for t in client.config.transactions.find(
            {"state": {"$in": ["prepared", "inProgress"]}}, {"startOpTime": 1}
        ):
            ts = (t.get("startOpTime") or {}).get("ts")
            if isinstance(ts, Timestamp) and (open_txn is None or ts < open_txn):
                open_txn = ts
    except PyMongoError:
        pass  # servers without config.transactions have no long-running transactions to bracket
    if open_txn is not None and open_txn <= newest:
        return Anchor(just_before(open_txn), open_txn)
    return Anchor(newest, newest)


class OplogCapture(threading.Thread):
    """Tail the oplog from an anchor into an ObjectWriter until ``finish(end_ts)``."""

    def __init__(
        self,
        client: MongoClient[Any],
        anchor: Anchor,
        writer: ObjectWriter,
        on_entries: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="lifeboat-oplog-capture", daemon=True)
        self.client = client
        self.anchor = anchor
        self.writer = writer
        self.on_entries = on_entries
        self.position = anchor.start_ts
        self.entries = 0
        self.error: BaseException | None = None
        self._end: Timestamp | None = None
        self._end_set = threading.Event()
        self._aborted = threading.Event()

    def finish(self, end_ts: Timestamp) -> None:
        self._end = end_ts
        self._end_set.set()

    def abort(self) -> None:
        self._aborted.set()
        self._end_set.set()

    def run(self) -> None:
        try:
            self._tail()
        except BaseException as e:  # handed to the main thread by join_checked
            self.error = e

    def join_checked(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error

    def _done(self) -> bool:
        return self._aborted.is_set() or (self._end is not None and self.position >= self._end)

    def _tail(self) -> None:
        # Bounded queries rather than one tailable cursor: each batch is then a clean
        # unit for the trimming check, on servers that trim without killing cursors too.
        # Entries can share a ts (a transaction), so we re-read from ``>= position`` and
        # skip the ones at ``position`` already written.
        guard = self.anchor.must_exist
        written_at_position = 0
        while not self._done():
            op = "$gte" if written_at_position else "$gt"
            batch = list(
                oplog(self.client)
                .find({"ts": {op: self.position}})
                .sort("$natural", ASCENDING)
                .limit(_BATCH + written_at_position)
            )
            if batch or self._end is not None:
                self._check_not_trimmed(guard)
            n = 0
            skip = written_at_position
            past_end = False
            for entry in batch:
                ts = entry["ts"]
                if ts == self.position and skip:
                    skip -= 1
                    continue
                if self._end is not None and ts > self._end:
                    past_end = True
                    break
                if ts == self.position:
                    written_at_position += 1
                else:
                    written_at_position = 1
                self.writer.write(entry.raw, 1)
                self.position = ts
                n += 1
            if n:
                guard = self.position
                self.entries += n
                if self.on_entries:
                    self.on_entries(n)
            if self._end is not None and (past_end or n == 0):
                # Everything up to end_ts (an existing entry) has been read.
                self.position = max(self.position, self._end)
            elif n == 0:
                self._end_set.wait(0.05)  # idle source: poll again soon, or at once on finish()

    def _check_not_trimmed(self, position: Timestamp) -> None:
        if oldest_ts(self.client) > position:
            self._overflow()

    def _overflow(self) -> None:
        raise overflow_error(self.client, self.anchor.start_ts, self.position, self.entries)


def overflow_error(
    client: MongoClient[Any], start_ts: Timestamp, position: Timestamp | None = None, captured: int = 0
) -> OplogOverflow:
    """An OplogOverflow that says how large the oplog must be (a lower bound, from what is known)."""
    position = position or start_ts
    oldest, newest = oldest_ts(client), newest_ts(client)
    entries = client.local["oplog.rs"].estimated_document_count()
    window_s = max(newest.time - oldest.time, 0)
    needed_s = max(newest.time - start_ts.time, 0)
    # Known for certain: what we captured, what is still there, and the entries lost
    # between our position and the oldest survivor that increments within a second reveal.
    if oldest.time == position.time:
        lost = max(oldest.inc - position.inc - 1, 0)
    else:
        lost = max(oldest.inc - 1, 0) + max(oldest.time - position.time - 1, 0) * max(
            entries // max(window_s, 1), 1
        )
    needed_entries = max(captured + lost + entries, entries + 1)
    factor = max(2, math.ceil(needed_entries / max(entries, 1)))
    size_hint = ""
    try:
        max_size = client.local.command("collStats", "oplog.rs").get("maxSize")
        if max_size:
            size_hint = f" (at least {math.ceil(max_size * factor / 2**20)} MB)"
    except PyMongoError:
        pass
    return OplogOverflow(
        f"oplog overflow: the oplog rolled over during the backup; it needed every entry after "
        f"{to_str(start_ts)} ({wall_of(start_ts)}) but the oldest left is {to_str(oldest)} "
        f"({wall_of(oldest)}). The oplog holds {entries} entries over {window_s}s; the backup needed at "
        f"least {needed_entries} entries over {needed_s}s: make the oplog at least {factor}x larger{size_hint}",
        "grow the oplog (replSetResizeOplog), back up from a member with a larger oplog, "
        "or back up at a quieter time",
    )
