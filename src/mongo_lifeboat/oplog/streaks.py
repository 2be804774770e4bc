"""Dense streaks of one kind of write in one collection, for the incident finder
(``oplog.incidents``): which entries of an uninterrupted run are one operation's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson import Timestamp

DENSE_STREAK = 3  # entries: a streak this long is part of a burst, shorter ones are lone writes
# A few entries of a burst stranded by a pause (a busy server) sit this close to the rest; a
# client writing a few times a second does not.
STRAY_GAP_S = 0.05
# An uninterrupted run this long is an operation's own, never busy single writers of several
# kinds: when other clients' writes interrupt it (a server that commits a long operation in
# chunks lets them in between: SecantusDB every 1,000 entries), the operation goes on after them.
JOIN_RUN = 64


def seconds(a: datetime | None, b: datetime | None) -> float:
    if a is None or b is None:
        return 0.0
    return (_naive_utc(b) - _naive_utc(a)).total_seconds()


def _naive_utc(when: datetime) -> datetime:
    """Entries' walls come naive (UTC) or aware, by the reader's codec: compared alike."""
    return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Point:
    ts: Timestamp
    wall: datetime | None


@dataclass
class Streaks:
    """Dense-streak detection for one (namespace, kind, form), in O(1) memory.

    ``tight``: the largest gap inside a streak; ``window``: the largest pause a burst spans.
    Dense streaks separated by a pause (a scheduler slice, a chunk boundary) are one burst,
    and so are a few entries stranded in such a pause when they sit within ``STRAY_GAP_S``
    of the streaks on both sides. Entries further apart are other clients' writes: they end
    the burst and are never counted in it.
    """

    tight: float
    window: float
    streak_start: Point | None = None
    streak_n: int = 0
    last: Point | None = None
    gap_before: float = 0.0  # before the current streak
    burst_start: Point | None = None
    burst_end: Point | None = None
    burst_n: int = 0
    pending: int = 0  # stranded entries after the burst's last dense streak
    run_n: int = 0  # entries since the last interruption
    closed: list[tuple[Point, Point, int]] = field(default_factory=list)

    def add(self, p: Point, weight: int) -> list[tuple[Point, Point, int]]:
        """Feed one entry (``weight`` operations); returns the bursts that this entry closed."""
        gap = seconds(self.last.wall, p.wall) if self.last is not None else None
        if gap is not None and gap > self.window:
            self._finish()
        elif gap is not None and gap > self.tight:
            self._end_streak(gap)
        if self.streak_start is None:
            self.streak_start, self.streak_n = p, 0
            self.gap_before = gap if gap is not None else float("inf")
        self.streak_n += weight
        self.run_n += weight
        self.last = p
        closed, self.closed = self.closed, []
        return closed

    def _end_streak(self, gap_after: float) -> None:
        if self.streak_start is None or self.last is None:
            return
        if self.streak_n >= DENSE_STREAK:
            if self.burst_start is None:
                self.burst_start, self.burst_n = self.streak_start, 0
            self.burst_n += self.pending + self.streak_n
            self.pending = 0
            self.burst_end = self.last
        elif self.burst_start is not None and max(self.gap_before, gap_after) <= STRAY_GAP_S:
            self.pending += self.streak_n
        else:
            self._close_burst()
        self.streak_start, self.streak_n = None, 0

    def _close_burst(self) -> None:
        if self.burst_start is not None and self.burst_end is not None:
            self.closed.append((self.burst_start, self.burst_end, self.burst_n))
        self.burst_start = self.burst_end = None
        self.burst_n = self.pending = 0

    def _finish(self) -> None:
        self._end_streak(float("inf"))
        self._close_burst()
        self.last = None

    def interrupt(self) -> list[tuple[Point, Point, int]]:
        """Another plain write was logged: a short run (and any burst in it) ends here; a long
        one was a chunk of an operation, which may go on after the writes between chunks."""
        long_run, self.run_n = self.run_n >= JOIN_RUN, 0
        if long_run:
            self._end_streak(0.0)
            return []
        return self.close()

    def close(self) -> list[tuple[Point, Point, int]]:
        self._finish()
        closed, self.closed = self.closed, []
        return closed
