"""How far back a capture source's history reaches now (what ``check oplog-window`` judges):
the oplog's window, size and fill, or — where this user may not read the oplog — the change
stream's, found by where it still opens."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..reader import newest_ts, oldest_ts
from .change_tail import history_start


@dataclass
class HistoryWindow:
    window_s: float
    entries: int
    size_bytes: int | None = None
    max_bytes: int | None = None
    max_entries: int | None = None  # an entry cap (some servers cap the oplog by count)

    @property
    def fill(self) -> float | None:
        """How full the oplog is (1.0: full, the window will not grow), when known."""
        if self.max_entries:
            return min(self.entries / self.max_entries, 1.0)
        if self.size_bytes and self.max_bytes:
            return min(self.size_bytes / self.max_bytes, 1.0)
        return None

    @property
    def window_when_full_s(self) -> float:
        """The window once the oplog is full, at the write rate it has seen so far."""
        fill = self.fill
        return self.window_s / fill if fill else self.window_s


def oplog_window(client: MongoClient[Any]) -> HistoryWindow:
    oldest, newest = oldest_ts(client), newest_ts(client)
    stats: dict[str, Any] = {}
    options: dict[str, Any] = {}
    with contextlib.suppress(PyMongoError):
        stats = client.local.command("collStats", "oplog.rs")
    with contextlib.suppress(PyMongoError, StopIteration):
        options = dict(next(client.local.list_collections(filter={"name": "oplog.rs"})).get("options") or {})
    entries = int(stats.get("count") or client.local["oplog.rs"].estimated_document_count())
    return HistoryWindow(
        float(newest.time - oldest.time),
        entries,
        int(stats["size"]) if stats.get("size") else None,
        int(stats.get("maxSize") or 0) or None,
        int(options["max"]) if options.get("max") else None,
    )


def stream_window(client: MongoClient[Any], now: datetime) -> HistoryWindow | None:
    """The change stream's history window, from the oldest position it still opens at."""
    start = history_start(client)
    if start is None:
        return None
    return HistoryWindow(max(now.timestamp() - start.time, 0.0), entries=0)
