"""The segment the archiver is filling: entries compressed as they come, committed as one
immutable object whose name carries its facts (``repo.layout.segment_key``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp

from ...repo import layout
from ...repo.objects import ObjectWriter
from ...repo.repository import Repository
from ...timestamps import iso, to_str


class OpenSegment:
    def __init__(
        self, repo: Repository, deployment: str, start: Timestamp, guard: Timestamp | None = None
    ) -> None:
        self.start = start
        # An existing entry at or before which nothing may have been trimmed for this segment
        # to be complete: the start itself (the last archived entry), or, right after a gap,
        # the oldest entry the archiver resumed from.
        self.guard = guard or start
        self.end = start
        self.writer = ObjectWriter(repo.storage, "")
        self.entries = 0
        self.first_wall: datetime | None = None
        self.last_wall: datetime | None = None
        self.opened = time.monotonic()
        self.opened_at = datetime.now(UTC)
        self.deployment = deployment
        self.capture = "oplog"  # the source its entries come from (set by the archiver)
        self.kept: list[Any] | None = None  # its entries, for live detection (None: not kept)

    def add(self, entry: Any) -> None:
        if self.kept is not None:
            self.kept.append(entry)
        self.writer.write(entry.raw, 1)
        self.entries += 1
        self.end = entry["ts"]
        wall = entry.get("wall")
        if isinstance(wall, datetime):
            self.first_wall = self.first_wall or wall
            self.last_wall = wall

    def commit(self) -> None:
        def name(sha256: str, size: int) -> str:
            ms = [
                int(w.replace(tzinfo=w.tzinfo or UTC).timestamp() * 1000) if w else None
                for w in (self.first_wall, self.last_wall)
            ]
            facts = layout.SegmentFacts(self.entries, size, sha256, ms[0], ms[1])
            return layout.segment_key(self.deployment, self.start, self.end, facts)

        self.writer.commit(
            name=name,
            meta={
                "capture": self.capture,
                "prev_end": to_str(self.start),
                "entries": str(self.entries),
                "first_wall": iso(self.first_wall) if self.first_wall else "",
                "last_wall": iso(self.last_wall) if self.last_wall else "",
            },
        )
