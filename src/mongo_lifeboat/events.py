"""Sinks: every run ends in one typed event that reaches its sinks.

A backup, an archiver gap or stall, a drill, a check: each emits one :class:`Event`.
Sinks decide what to do with it — the console prints it, the notifier sends it, the
metrics sink rewrites the textfile — so a new kind of event needs no new plumbing.
A sink that fails never fails the run that emitted the event (it is logged instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .secrets import redact

log = logging.getLogger(__name__)

Status = Literal["success", "warning", "failure"]


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


@dataclass(frozen=True)
class Event:
    event: str  # backup | archiver | drill | check | notify-test | …
    status: Status
    deployment: str
    repository: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        # Credentials never travel: whatever a caller put in, it is redacted here, once.
        object.__setattr__(self, "repository", redact(self.repository))
        object.__setattr__(self, "summary", redact(self.summary))
        object.__setattr__(self, "details", _redacted(self.details))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        return f"[lifeboat] {self.deployment}: {self.event} {self.status}"


Sink = Callable[[Event], None]


class Sinks:
    """Fan an event out to every sink; a failing sink is logged, never raised."""

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks or [])

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception as e:  # a broken sink must not turn a good backup into a failure
                log.warning("signal sink %s failed: %s", getattr(sink, "__name__", sink), redact(str(e)))
