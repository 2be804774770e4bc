"""The archiver under supervision: ``lifeboat stream`` kept running, restarted with backoff
when it exits, every exit and every gap it reports turned into an outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..events import Event
from .children import Running, command

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_AFTER_S = 60.0  # a child that ran this long resets the backoff


class ArchiverSupervisor:
    def __init__(
        self,
        plan_path: Path,
        on_exit: Callable[[int, str, float], None],
        on_gap: Callable[[Event], None],
        on_start: Callable[[], None],
        segment_seconds: float | None = None,
        on_incident: Callable[[Event], None] | None = None,
    ) -> None:
        self.plan_path = plan_path
        self.on_exit, self.on_gap, self.on_start = on_exit, on_gap, on_start
        self.on_incident = on_incident
        self.segment_seconds = segment_seconds
        self.child: Running | None = None
        self.restarts = 0
        self.last_exit: dict[str, Any] | None = None
        self._stopping = threading.Event()
        self._restarting = False
        self._thread = threading.Thread(target=self._run, name="archiver-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _event(self, event: Event) -> None:
        if event.event == "archiver" and event.details.get("problem") == "gap":
            self.on_gap(event)
        elif event.event == "incident" and self.on_incident is not None:
            self.on_incident(event)  # what the archiver's live detection saw

    def _run(self) -> None:
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            args = ["stream"]
            if self.segment_seconds:
                args += ["--segment-seconds", f"{self.segment_seconds:g}"]
            self.child = Running(command(self.plan_path, *args), self._event)
            self.on_start()
            result = self.child.wait()
            if self._stopping.is_set():
                break
            if self._restarting:  # asked for (the plan was reloaded): not a failure
                self._restarting = False
                backoff = FIRST_BACKOFF_S
                continue
            self.restarts += 1
            reason = result.error or (result.stderr_tail[-1] if result.stderr_tail else "no output")
            self.last_exit = {"exit_code": result.exit_code, "reason": reason, "at": result.finished_at}
            if result.duration_s >= HEALTHY_AFTER_S:
                backoff = FIRST_BACKOFF_S
            self.on_exit(result.exit_code, reason, backoff)
            if self._stopping.wait(backoff):
                break
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def restart(self) -> None:
        """Stop the archiver (it drains) and start it again at once, as not a failure."""
        self._restarting = True
        child = self.child
        if child is not None:
            child.terminate()

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.proc.poll() is None

    def describe(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.child.proc.pid if self.running and self.child else None,
            "since": self.child.started_at if self.child else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "log": list(self.child.tail)[-10:] if self.child else [],
        }

    def stop(self, timeout_s: float = 60.0) -> None:  # longer than the archiver's drain (30s)
        """SIGTERM: the archiver archives what is in the oplog, commits, and exits."""
        self._stopping.set()
        child = self.child
        if child is not None:
            child.terminate()
            deadline = time.monotonic() + timeout_s
            while child.proc.poll() is None and time.monotonic() < deadline:
                self._stopping.wait(0.1)
            child.kill()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
