"""The agent's jobs run as ``lifeboat`` child processes: the same commands, exit codes and
``--json`` documents an operator gets by hand, and a job that crashes cannot take the agent
with it. Children die with the agent (``PR_SET_PDEATHSIG``), so a killed agent never leaves a
backup running that a restarted one would not know about. Each child writes its events as
JSON lines on a pipe the agent reads (``--events-fd``): outcomes and gaps arrive as data, and
the agent, not the child, notifies (grouped, ``alerts``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..events import Event, outcome_of, read_event_line, update_of
from ..secrets import redact

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    # Not Linux: children outlive a killed agent; the leases still keep runs apart.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PROGRAM = [sys.executable, "-m", "mongo_lifeboat"]


def command(plan_path: Path, *args: str) -> list[str]:
    return [*_PROGRAM, "--config", str(plan_path), *args]


@dataclass
class JobResult:
    args: list[str]
    started_at: str
    finished_at: str
    duration_s: float
    exit_code: int
    document: Any  # the --json document (None when the run printed none)
    error: str  # the "error: …" line, when it failed
    stderr_tail: list[str] = field(default_factory=list)
    outcomes: list[Event] = field(default_factory=list)  # the events the child emitted, in order

    def outcome(self, kind: str) -> Event | None:
        """The last ``kind`` outcome the child reported (None: it reported none, e.g. it crashed)."""
        return next((e for e in reversed(self.outcomes) if e.event == kind), None)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "command": " ".join(self.args),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "exit_code": self.exit_code,
            "error": self.error,
        }


class Running:
    """One child process: its stderr followed line by line, its events read from a pipe."""

    def __init__(self, argv: list[str], on_event: Callable[[Event], None] | None = None) -> None:
        self.argv = argv
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.tail: deque[str] = deque(maxlen=40)
        self.outcomes: list[Event] = []
        self.phase = ""  # the phase the child said it is in (its last ``phase`` update)
        self._on_event = on_event
        events_r, events_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [*_PROGRAM, "--events-fd", str(events_w), *argv[len(_PROGRAM) :]],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                pass_fds=(events_w,),
                preexec_fn=_die_with_parent,
            )
        except BaseException:
            os.close(events_r)
            raise
        finally:
            os.close(events_w)  # the child holds its end: the pipe ends when the child does
        self._stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_events, args=(events_r,), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.tail.append(redact(line.rstrip("\n")))

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self._stdout.append(self.proc.stdout.read())

    def _read_events(self, fd: int) -> None:
        with open(fd, encoding="utf-8") as pipe:
            for line in pipe:
                read = read_event_line(line)
                if read is None:
                    continue
                line_type, payload = read
                if line_type == "update":
                    update = update_of(payload)
                    if update is not None and update.kind == "phase":
                        self.phase = update.name
                elif line_type == "outcome" and (event := outcome_of(payload)) is not None:
                    self.outcomes.append(event)
                    if self._on_event is not None:
                        self._on_event(event)

    def wait(self, timeout: float | None = None) -> JobResult:
        code = self.proc.wait(timeout)
        for t in self._readers:
            t.join()
        out = "".join(self._stdout)
        try:
            document = json.loads(out) if out.strip() else None
        except ValueError:
            document = None
        error = next((line[len("error: ") :] for line in self.tail if line.startswith("error: ")), "")
        return JobResult(
            self.argv[len(_PROGRAM) + 2 :],  # after the program and --config PLAN
            self.started_at,
            datetime.now(UTC).isoformat(timespec="seconds"),
            round(time.monotonic() - self.started, 3),
            code,
            document,
            error,
            list(self.tail),
            list(self.outcomes),
        )

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
