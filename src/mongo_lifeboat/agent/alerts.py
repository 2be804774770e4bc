"""Grouping: what the agent tells people, so that a failure is said once, not every minute.

Each outcome belongs to a condition (``backup``, ``drill``, ``archiver``, ``check:oplog-window``
…). A condition that goes bad, or changes severity, sends its event; the same failure again is
counted and not sent (a reminder goes after ``repeat_s``); when it recovers, one "resolved"
success is sent. Successes of runs (a backup, a drill, a prune) are news in themselves and are
sent; a check that stays ok is not.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..events import Event, Sinks


@dataclass
class Condition:
    status: str  # warning | failure
    since: str
    occurrences: int
    last_sent: float
    summary: str


class Alerts:
    def __init__(
        self, sinks: Sinks, repeat_s: float = 86400.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.sinks = sinks
        self.repeat_s = repeat_s
        self.clock = clock
        self.open: dict[str, Condition] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)  # what was sent, newest last
        self._lock = threading.Lock()

    def outcome(self, key: str, event: Event, news_when_ok: bool = True) -> bool:
        """Record one outcome of ``key``; returns whether an event was sent."""
        with self._lock:
            to_send = self._decide(key, event, news_when_ok)
        if to_send is not None:
            self.recent.append({**to_send.to_json(), "condition": key})
            self.sinks.emit(to_send)
        return to_send is not None

    def _decide(self, key: str, event: Event, news_when_ok: bool) -> Event | None:
        now = self.clock()
        held = self.open.get(key)
        if event.status == "success":
            if held is None:
                return event if news_when_ok else None
            del self.open[key]
            return replace(
                event,
                summary=f"resolved: {event.summary} (was {held.status} since {held.since}, "
                f"{held.occurrences} time{'s' if held.occurrences > 1 else ''})",
                details={**event.details, "resolved": True, "was": held.status, "since": held.since},
            )
        if held is None or held.status != event.status:
            self.open[key] = Condition(event.status, event.time, 1, now, event.summary)
            return event
        held.occurrences += 1
        held.summary = event.summary
        if now - held.last_sent < self.repeat_s:
            return None  # the same failure again: counted, not sent
        held.last_sent = now
        return replace(
            event,
            summary=f"still {event.status} since {held.since} ({held.occurrences} times): {event.summary}",
            details={**event.details, "reminder": True, "since": held.since},
        )

    def conditions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                k: {"status": c.status, "since": c.since, "occurrences": c.occurrences, "summary": c.summary}
                for k, c in self.open.items()
            }
