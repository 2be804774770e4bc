"""Mounts started from the dashboard (``[agent] mounts = true``): ``lifeboat mount`` of a chosen
moment, run as a child process like every other job (a restore takes a while: the page does not
wait for it, and a mount that crashes cannot take the agent with it), then listed on the page
with its URI and time left until its TTL (``[agent] mount_ttl``). The served scratch server
outlives the child (it is the mount's keeper's), as it does after ``lifeboat mount`` by hand."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.points import Point
from ..errors import LifeboatError
from ..past.mounts import list_mounts
from .children import Running, command


@dataclass
class MountStarter:
    plan_path: Path
    deployment: str | None  # the plan's [deployment] key, when it names one
    ttl_s: float
    starting: list[str] = field(default_factory=list)  # the moments being restored now
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, to: str, namespaces: tuple[str, ...]) -> threading.Thread | None:
        """Start mounting ``to`` (``latest``, a time, a position, an incident id) in a child;
        None (and ``last_error``) when the moment cannot even be read."""
        try:
            Point.parse(to or "latest")  # a bad moment is said on the page, before any child
        except LifeboatError as e:
            self.last_error = e.message
            return None
        label = f"{to or 'latest'}" + (f" ({', '.join(namespaces)})" if namespaces else "")
        args = ["mount", "--to", to or "latest", "--ttl", f"{int(self.ttl_s)}s", "--json"]
        for pattern in namespaces:
            args += ["--ns-include", pattern]
        if self.deployment:
            args += ["--deployment", self.deployment]
        with self._lock:
            self.starting.append(label)
        thread = threading.Thread(target=self._run, args=(args, label), name="lifeboat-mount", daemon=True)
        thread.start()
        return thread

    def _run(self, args: list[str], label: str) -> None:
        try:
            result = Running(command(self.plan_path, *args)).wait()
            self.last_error = (
                None if result.ok else f"mounting {label} failed (exit {result.exit_code}): {result.error}"
            )
        finally:
            with self._lock:
                self.starting.remove(label)

    def view(self) -> dict[str, Any]:
        return {
            "running": [m.describe() for m in list_mounts()],
            "starting": list(self.starting),
            "error": self.last_error,
        }
