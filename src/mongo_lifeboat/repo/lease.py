"""A lease object in the repository: one holder at a time, expiring if the holder dies."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

from ..errors import LeaseHeld, LifeboatError, RepositoryError
from ..processes import zombie
from ..timestamps import parse_iso
from . import layout
from .storage import ObjectMissing, Storage

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _dead_here(held: dict[str, str]) -> bool:
    """The holder ran on this host and its process is gone (e.g. SIGKILL)."""
    if held.get("host") != socket.gethostname():
        return False
    try:
        pid = int(held.get("pid", "0"))
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return zombie(pid)


class Lease:
    def __init__(
        self, storage: Storage, deployment: str, name: str, ttl_s: float = 60.0, key: str | None = None
    ) -> None:
        self.storage = storage
        self.key = key or layout.lock_key(deployment, name)
        self.name = name
        self.ttl = timedelta(seconds=ttl_s)
        self.holder = str(uuid.uuid4())
        self.since = _now()

    def _body(self) -> bytes:
        return json.dumps(
            {
                "holder": self.holder,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": self.since.isoformat(timespec="seconds"),
                "expires": (_now() + self.ttl).isoformat(timespec="seconds"),
            }
        ).encode()

    def _current(self) -> tuple[dict[str, str], str] | None:
        """The lease as stored, and its version (for a compare-and-swap); None if there is none."""
        try:
            data, version = self.storage.read_versioned(self.key)
            return dict(json.loads(data)), version
        except (ObjectMissing, ValueError):
            return None

    def acquire(self) -> None:
        for _ in range(3):
            if self.storage.create(self.key, self._body()):
                return
            current = self._current()
            if current is None:
                continue  # released between our two calls
            held, version = current
            if held.get("holder") == self.holder:
                return  # our create landed though its answer was lost (and was retried)
            if parse_iso(held["expires"]) < _now() or _dead_here(held):
                # The holder died: take the lease over, unless someone else just did.
                if self.storage.replace(self.key, self._body(), version):
                    return
                continue
            raise LeaseHeld(
                f"another {self.name} holds the lease: host {held.get('host')}, pid {held.get('pid')}, "
                f"since {held.get('since')} (expires {held.get('expires')})"
            )
        raise LeaseHeld(f"could not take the {self.name} lease (contended)")

    def renew(self) -> None:
        # Compare-and-swap: a lease taken over between our read and our write is not overwritten.
        current = self._current()
        if current is not None and current[0].get("holder") == self.holder:
            if self.storage.replace(self.key, self._body(), current[1]):
                return
            # Refused: taken over — or our own write landed and its answer was lost.
            current = self._current()
            if current is not None and current[0].get("holder") == self.holder:
                return
        raise LeaseHeld(f"the {self.name} lease was lost (taken over after expiry?)", "restart this process")

    def release(self) -> None:
        current = self._current()
        if current is not None and current[0].get("holder") == self.holder:
            self.storage.delete([self.key])


def held_by_live_process(storage: Storage, key: str) -> bool:
    """Whether the lease at ``key`` is held now: present, not expired, its holder not known dead."""
    try:
        with storage.get(key) as f:
            held = dict(json.loads(f.read()))
    except (ObjectMissing, ValueError):
        return False
    try:
        expired = parse_iso(held["expires"]) < _now()
    except (KeyError, ValueError):
        return False
    return not expired and not _dead_here(held)


class Renewer:
    """Renews a lease on a thread every third of its lifetime while a long job runs.

    A renewal that fails (the repository stopped answering, the lease taken over) ends the
    renewing quietly and is kept in ``failure``: the job itself meets the same repository and
    fails with the error worth showing. A job that fails leaves its lease to expire rather than
    spend another deadline releasing it through a repository that is not answering (a holder
    known dead on this host is taken over at once anyway)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{lease.name}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.ttl.total_seconds() / 3):
            try:
                self.lease.renew()
            except (LifeboatError, OSError) as e:
                self.failure = e
                log.debug("renewing the %s lease failed: %s", self.lease.name, e)
                return

    def __enter__(self) -> Renewer:
        self.lease.acquire()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        failing = exc_type is not None or self.failure is not None
        self._thread.join(timeout=1.0 if failing else None)  # a renewal stuck in retries is let go
        storage_down = self.failure is not None or (
            exc_type is not None and issubclass(exc_type, RepositoryError | OSError)
        )
        if storage_down:
            return
        try:
            self.lease.release()
        except (LifeboatError, OSError):
            if not failing:
                raise
