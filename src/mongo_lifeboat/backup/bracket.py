"""The bracket around a dump (DESIGN §3), read from the oplog or from a change stream.

``start_ts`` is chosen before the export, history is captured from there while the
export runs, and ``end_ts`` is the newest write once the export is done. The capture
proves it missed nothing (see :class:`OplogCapture`) or fails with OplogOverflow.

From a change stream (issue 22) the proof is the stream's own: it resumes from the start
or refuses (``ChangeStreamHistoryLost``), and the backup fails rather than be recorded.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..errors import HistoryLost, OplogOverflow
from ..oplog.capture.anchor import Anchor
from ..oplog.capture.sources import BracketReader, Source
from ..oplog.chain import entry_digest
from ..oplog.reader import newest_ts, oldest_ts, pause_for
from ..repo.objects import ObjectWriter
from ..timestamps import to_str, wall_of


class OplogCapture(threading.Thread):
    """Read the oplog after an anchor into an ObjectWriter until ``finish()``.

    Reads go through :class:`OplogReader` (bounded plain queries), each of which proves
    by itself that nothing after its start was trimmed; the oldest entry is looked at
    only when a read could not show that (see the reader).

    The capture's queries take at most SHARE of the time: on a server where reading the
    oplog is slow (one that scans it whole per query), polls are spaced in proportion,
    so the export is not starved. On ``finish()`` the capture reads on at once until it
    has caught up.
    """

    SHARE = 0.2
    POLL_S = (0.5, 5.0)  # back off while the source is idle; a busy source is read sooner

    def __init__(
        self,
        client: MongoClient[Any],
        source: Source,
        anchor: Anchor,
        writer: ObjectWriter,
        on_entries: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(name="lifeboat-oplog-capture", daemon=True)
        self.client = client
        self.anchor = anchor
        self.writer = writer
        self.on_entries = on_entries
        self.source = source
        self.position = anchor.start_ts
        # From a change stream: the last write once the export is done (see settled_write).
        self._end_floor: Timestamp | None = None
        self.entries = 0
        self.last_raw: bytes | None = None  # the last entry captured
        self.queries_s = 0.0
        self.error: BaseException | None = None
        self._finishing = threading.Event()
        self._wake = threading.Event()
        self._aborted = threading.Event()

    def finish(self) -> None:
        """Capture everything in the oplog now, then stop; ``position`` is then the
        consistent point (every entry for a write the export saw is at or before it)."""
        self._finishing.set()
        self._wake.set()

    def abort(self) -> None:
        self._aborted.set()
        self._wake.set()

    def run(self) -> None:
        try:
            self._capture()
        except BaseException as e:  # handed to the main thread by join_checked
            self.error = e

    @property
    def end_digest(self) -> str | None:
        """The digest of the entry at ``position`` (the consistent point), where known (never
        from a change stream: its entries have no oplog entry's bytes)."""
        if not self.source.entry_bytes:
            return None
        if self.last_raw is not None:
            return entry_digest(self.last_raw)
        return self.anchor.newest_digest if self.position == self.anchor.start_ts else None

    def join_checked(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error

    def _capture(self) -> None:
        reader = self.source.bracket_reader(self.client, self.anchor)
        try:
            self._follow(reader)
        except HistoryLost as e:  # a change stream's own proof that the start is out of reach
            raise OplogOverflow(
                f"the change stream's history no longer reaches the backup's start {to_str(self.anchor.start_ts)} "
                f"({wall_of(self.anchor.start_ts)}): the backup cannot be made consistent ({e.message})",
                "grow the oplog (replSetResizeOplog), or back up at a quieter time",
            ) from e
        finally:
            reader.close()

    def _follow(self, reader: BracketReader) -> None:
        poll = self.POLL_S[0]
        # The first read too waits as long as the anchor's query asks for.
        self._wake.wait(pause_for(self.anchor.query_s, self.SHARE, poll))
        self._wake.clear()
        while not self._aborted.is_set():
            finishing = self._finishing.is_set()  # before the query: the export is done by then
            if finishing and self._end_floor is None:
                self._end_floor = self.source.consistent_floor(self.client)
            entries, caught_up = reader.read()
            for entry in entries:
                self.writer.write(entry.raw, 1)
                self.last_raw = entry.raw
            # From a stream the consistent point is the export's last write at least: writes
            # no stream shows (a system collection's) still count as seen.
            self.position = max(reader.position, self._end_floor or reader.position)
            self.queries_s = reader.query_s
            if entries:
                self.entries += len(entries)
                poll = self.POLL_S[0]
                if self.on_entries:
                    self.on_entries(len(entries))
            else:
                poll = min(poll * 2, self.POLL_S[1])
            if reader.unproven_from is not None:
                self._check_not_trimmed(max(reader.unproven_from, self.anchor.guard))
                reader.proven()
            # A change stream under constant writes is never quiet: reaching the export's
            # last write ends it too.
            if finishing and (
                caught_up or (self._end_floor is not None and reader.position >= self._end_floor)
            ):
                return
            if not self._finishing.is_set():
                self._wake.wait(pause_for(reader.last_query_s, self.SHARE, poll if caught_up else 0.0))
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
