"""The event vocabulary: what a run says while it works (:class:`Update`: a phase began, work
was done, a notice) and how it ended (:class:`Event`: the outcome, which reaches its sinks).
Services report through a :data:`Reporter` and never print; the front ends print updates (as
text, or as JSON lines on an events pipe for a supervisor) and send outcomes to the sinks.

A backup, an archiver gap or stall, a drill, a check: each emits one :class:`Event`.
Sinks decide what to do with it — the console prints it, the notifier sends it, the
metrics sink rewrites the textfile — so a new kind of event needs no new plumbing.
A sink that fails never fails the run that emitted the event (it is logged instead).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
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


# -- updates: what a run says while it works -----------------------------------------------

UpdateKind = Literal["phase", "progress", "notice"]


@dataclass(frozen=True)
class Update:
    """One thing a running service says: ``phase`` (``name`` began), ``progress`` (``done``
    more of ``name`` — documents, entries, objects — out of ``total`` when known) or ``notice``
    (``name`` is its kind: a warning or a fact worth saying, in ``message``)."""

    run: str  # backup | restore | archiver | drill | snapshot | undo | repository
    kind: UpdateKind
    name: str
    message: str = ""
    ns: str = ""
    done: int = 0
    total: int = 0
    bytes: int = 0
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Reporter = Callable[[Update], None]

# A loader's or an exporter's count as it goes: (namespace, documents, raw bytes) since the
# last call, possibly from worker threads; the service turns it into ``progress`` updates.
CountDocuments = Callable[[str, int, int], None]


def silent(update: Update) -> None:
    """The reporter of a caller that wants no updates."""


def tee(*reporters: Reporter | None) -> Reporter:
    """One reporter that tells each of ``reporters`` (None ones left out)."""
    chosen = [r for r in reporters if r is not None]

    def report(update: Update) -> None:
        for r in chosen:
            r(update)

    return report


# -- phases: what a long run is doing now, and how long each part took ----------------------


class PhaseClock:
    """Each phase's seconds, summed by name (several steps may make one phase), into
    ``phases``; a change of phase is reported once, however many steps make it. One clock for
    every run that reports phases (restore, drill, snapshot drill): each new phase is an
    :class:`Update` of kind ``phase``."""

    def __init__(
        self, run: str, report: Reporter | None = None, phases: dict[str, float] | None = None
    ) -> None:
        self.phases: dict[str, float] = phases if phases is not None else {}
        self._run = run
        self._report = report or silent
        self._current = ""  # the phase announced last
        self._running = ""  # the phase start() is timing
        self._since = 0.0

    def enter(self, name: str) -> None:
        """Say that ``name`` is under way (once, however many steps make it); times nothing."""
        if name != self._current:
            self._current = name
            self._report(Update(self._run, "phase", name))

    def start(self, name: str) -> None:
        """End the phase being timed, if any, and time ``name`` from now."""
        self.stop()
        self.enter(name)
        self._running, self._since = name, time.monotonic()

    def stop(self) -> None:
        if self._running:
            self.add(self._running, time.monotonic() - self._since)
            self._running = ""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.start(name)
        try:
            yield
        finally:
            self.stop()

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = round(self.phases.get(name, 0.0) + seconds, 3)


# -- events as JSON lines, for a supervisor (the agent) reading a child's pipe ---------------


def event_line(line_type: str, payload: dict[str, Any]) -> str:
    """One event as one JSON line: ``{"type": line_type, ...payload}`` (``outcome``: an
    :class:`Event`; ``update``: an :class:`Update`)."""
    return json.dumps({"type": line_type, **payload}, default=str) + "\n"


def read_event_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """(line type, payload) of a line :func:`event_line` wrote; None for anything else."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    line_type = data.pop("type")
    return line_type, data


def update_of(payload: dict[str, Any]) -> Update | None:
    """The :class:`Update` an ``update`` line carries (None if it is not one)."""
    try:
        return Update(**payload)
    except TypeError:
        return None


def outcome_of(payload: dict[str, Any]) -> Event | None:
    """The :class:`Event` an ``outcome`` line carries (None if it is not one)."""
    try:
        return Event(**{f.name: payload[f.name] for f in fields(Event) if f.name in payload})
    except TypeError:
        return None


class EventPipe:
    """A run's events, written as JSON lines on a file descriptor a supervisor gave it
    (``lifeboat --events-fd N``): outcomes, gaps and phases arrive there as data, so the
    supervisor never reads the run's words. Thread-safe: the archiver reports from threads."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=True)
        self._lock = threading.Lock()

    def write(self, line_type: str, payload: dict[str, Any]) -> None:
        # Everything that leaves the process is redacted here, once. OSError/ValueError: the
        # supervisor went away (or closed the pipe): the run goes on.
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._file.write(event_line(line_type, _redacted(payload)))

    def outcome(self, event: Event) -> None:
        self.write("outcome", event.to_json())

    def update(self, update: Update) -> None:
        self.write("update", update.to_json())

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._file.close()
