"""The oplog bracket around a dump (DESIGN §3).

``start_ts`` is chosen before the export, the oplog is captured from there while the
export runs, and ``end_ts`` is the newest entry once the export is done. The capture
proves it missed nothing (see :class:`OplogCapture`) or fails with OplogOverflow.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from ..errors import OplogOverflow, UnsupportedSource
from ..oplog.reader import OplogReader, newest_ts, oldest_ts
from ..repo.objects import ObjectWriter
from ..timestamps import just_before, to_str, wall_of


@dataclass(frozen=True)
class Anchor:
    """Where capture begins: entries with ``ts > start_ts`` are replayed over the export.

    ``guard``: an existing entry at or before which nothing may be trimmed (the start
    itself, or the first entry of the open transaction the start was moved back for)."""

    start_ts: Timestamp
    guard: Timestamp


def _majority_point(client: MongoClient[Any]) -> Timestamp | None:
    try:
        optimes = client.admin.command("replSetGetStatus").get("optimes", {})
        ts = (optimes.get("readConcernMajorityOpTime") or optimes.get("lastCommittedOpTime") or {}).get("ts")
        return ts if isinstance(ts, Timestamp) else None
    except PyMongoError:
        return None


def choose_anchor(client: MongoClient[Any]) -> Anchor:
    """Oldest open transaction's first entry, else the newest oplog entry.

    An anchor that is too old only replays more (replay is idempotent); one that is
    too new loses writes. So the newest entry is capped by the majority commit point,
    which has no oplog holes (writes with an earlier ts still in flight).
    """
    try:
        start = newest_ts(client)
    except StopIteration as e:
        raise UnsupportedSource(
            "the source oplog is empty", "write once to the replica set (or wait for its first no-op entry)"
        ) from e
    except OperationFailure as e:
        raise UnsupportedSource(
            f"cannot read the source oplog (local.oplog.rs): {e}",
            "Lifeboat needs a replica set (a single-node one is fine) and a user with the backup role",
        ) from e
    majority = _majority_point(client)
    if majority is not None and majority < start:
        start = majority
    guard = start
    try:
        for t in client.config.transactions.find(
            {"state": {"$in": ["prepared", "inProgress"]}}, {"startOpTime": 1}
        ):
            ts = (t.get("startOpTime") or {}).get("ts")
            if isinstance(ts, Timestamp) and ts <= guard:
                start, guard = just_before(ts), ts
    except PyMongoError:
        pass  # servers without config.transactions have no long-running transactions to bracket
    return Anchor(start, guard)


class OplogCapture(threading.Thread):
    """Read the oplog after an anchor into an ObjectWriter until ``finish(end_ts)``.

    Reads go through :class:`OplogReader` (bounded plain queries).

    Proof that nothing was missed: capped-collection trimming removes the oldest
    entries first, so if the oldest entry left is at or before the position reached at
    the previous check, every entry after that position was still there when read.
    The check runs every CHECK_INTERVAL_S and once at the end.
    """

    CHECK_INTERVAL_S = 5.0
    POLL_S = (0.5, 5.0)  # back off while the source is idle; a busy source is read at once

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
        self._wake = threading.Event()
        self._aborted = threading.Event()

    def finish(self, end_ts: Timestamp) -> None:
        """Capture through ``end_ts`` and stop. Entries already read past it stay (the
        caller takes ``max(end_ts, position)`` as the consistent point)."""
        self._end = end_ts
        self._wake.set()

    def abort(self) -> None:
        self._aborted.set()
        self._wake.set()

    def run(self) -> None:
        try:
            self._capture()
        except BaseException as e:  # handed to the main thread by join_checked
            self.error = e

    def join_checked(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error

    def _capture(self) -> None:
        reader = OplogReader(self.client, self.anchor.start_ts)
        guard = self.anchor.guard
        last_check = time.monotonic()
        poll = self.POLL_S[0]
        while not self._aborted.is_set():
            end = self._end  # read before the query: every entry <= end exists by then
            entries, caught_up = reader.read()
            for entry in entries:
                self.writer.write(entry.raw, 1)
            self.position = reader.position
            if entries:
                self.entries += len(entries)
                poll = self.POLL_S[0]
                if self.on_entries:
                    self.on_entries(len(entries))
            else:
                poll = min(poll * 2, self.POLL_S[1])
            done = end is not None and caught_up
            if done or time.monotonic() - last_check > self.CHECK_INTERVAL_S:
                self._check_not_trimmed(guard)
                guard, last_check = self.position, time.monotonic()
            if done:
                return
            if caught_up:
                self._wake.wait(poll)  # nothing new: poll again soon, at once on finish()
                self._wake.clear()

    def _check_not_trimmed(self, position: Timestamp) -> None:
        if oldest_ts(self.client) > position:
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
