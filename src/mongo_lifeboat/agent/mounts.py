"""Mounts started from the dashboard (``[agent] mounts = true``): ``lifeboat mount`` of a chosen
moment, run in a worker thread (a restore takes a while; the page does not wait for it), then
listed on the page with its URI and time left until its TTL (``[agent] mount_ttl``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..catalog.points import Point
from ..errors import LifeboatError
from ..past.mounts import list_mounts, start_mount
from ..repo.repository import Repository
from ..secrets import redact


@dataclass
class MountStarter:
    repository: Repository
    deployment: str | None
    ttl_s: float
    starting: list[str] = field(default_factory=list)  # the moments being restored now
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, to: str, namespaces: tuple[str, ...]) -> threading.Thread | None:
        """Start mounting ``to`` (``latest``, a time, a position, an incident id) in the
        background; None (and ``last_error``) when the moment cannot even be read."""
        try:
            point = Point.parse(to or "latest")
        except LifeboatError as e:
            self.last_error = e.message
            return None
        label = f"{to or 'latest'}" + (f" ({', '.join(namespaces)})" if namespaces else "")
        with self._lock:
            self.starting.append(label)
        thread = threading.Thread(
            target=self._run, args=(point, namespaces, label), name="lifeboat-mount", daemon=True
        )
        thread.start()
        return thread

    def _run(self, point: Point, namespaces: tuple[str, ...], label: str) -> None:
        try:
            start_mount(self.repository, point, self.deployment, namespaces, self.ttl_s)
            self.last_error = None
        except Exception as e:  # shown on the page: the agent goes on either way
            self.last_error = f"mounting {label} failed: {redact(getattr(e, 'message', None) or str(e))}"
        finally:
            with self._lock:
                self.starting.remove(label)

    def view(self) -> dict[str, Any]:
        return {
            "running": [m.describe() for m in list_mounts()],
            "starting": list(self.starting),
            "error": self.last_error,
        }
