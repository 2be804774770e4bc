"""Any moment served read-only: a scratch server (SecantusDB) restored to T, on loopback, that
any driver, mongosh or Compass can query, for as long as its TTL.

A mount is a directory under ``mounts_home()``: its server's data and ``mount.json`` (mode
0600: it holds the read-only user's password). It is made in three steps:

1. the moment is restored into a scratch server that admits only this process from its first
   second (``scratch_pki``: a client certificate made for this run, in a directory only this
   user can read; any other client fails the TLS handshake), on loopback, its data in the
   mount's directory (mode 0700);
2. a user ``reader`` with the roles ``readAnyDatabase`` and ``clusterMonitor`` (which lists the
   databases, as mongosh and Compass do first) is created over that same gated connection, and
   the server stopped;
3. a keeper process, on its own session so it outlives the command, serves the same data with
   ``--auth`` on the mount's port: the server itself refuses every write (and any client
   without the password). At its TTL, or on ``lifeboat mount stop``, the keeper stops the
   server and deletes the directory: nothing is left running or on disk.

Mounts of the same moment and namespaces of the same repository share one restore: asking
again gives the running mount, and a request made while that mount is still being restored
waits for it (a lock per moment) instead of restoring a second copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..catalog.points import LATEST, Point
from ..embedded import ScratchServer, port_taken, port_taken_message
from ..errors import EmbeddedServerError, NotFound
from ..events import Reporter, silent
from ..mongo.client import connect
from ..mongo.nsmap import NamespaceMap
from ..processes import alive
from ..remedies import Remedy
from ..repo.repository import Repository
from ..restore.pitr import PitrPlan, choose_restore
from ..restore.plan import RestorePlan
from ..restore.service import RestoreOptions, run_restore
from ..timestamps import iso, parse_position, to_str, wall_of

READER = "reader"
# Reads, and listing databases (what mongosh and Compass do first): no role that writes.
READER_ROLES = [{"role": "readAnyDatabase", "db": "admin"}, {"role": "clusterMonitor", "db": "admin"}]
_START_S = 60.0


def mounts_home() -> Path:
    """``$LIFEBOAT_MOUNTS``, else ``$XDG_STATE_HOME/lifeboat/mounts`` (``~/.local/state/…``)."""
    if os.environ.get("LIFEBOAT_MOUNTS"):
        return Path(os.environ["LIFEBOAT_MOUNTS"])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "lifeboat" / "mounts"


@dataclass
class Mount:
    id: str
    key: str  # repository id, moment, namespaces: what makes two mounts one
    restored_to: str
    namespaces: list[str]
    backup_id: str
    documents: int
    port: int
    password: str
    created_at: str
    expires_at: str
    keeper_pid: int | None = None
    server_pid: int | None = None  # its server, stopped here if its keeper was killed
    shared: bool = field(default=False, compare=False)  # this request got a running mount

    @property
    def uri(self) -> str:
        return f"mongodb://{READER}:{self.password}@127.0.0.1:{self.port}/?authSource=admin&directConnection=true"

    @property
    def repo_id(self) -> str:
        """The repository the moment was restored from."""
        return str(json.loads(self.key)[0])

    @property
    def seconds_left(self) -> float:
        return max(0.0, (datetime.fromisoformat(self.expires_at) - datetime.now(UTC)).total_seconds())

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("password", "key")}
        return {
            **out,
            "uri": self.uri,
            "restored_to_wall": wall_of(parse_position(self.restored_to)),
            "seconds_left": round(self.seconds_left),
        }


def _record(directory: Path) -> Path:
    return directory / "mount.json"


def save_record(directory: Path, mount: Mount) -> None:
    """Written whole or not at all, readable by its owner only (it holds the password)."""
    partial = directory / "mount.json.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({k: v for k, v in asdict(mount).items() if k != "shared"}, f)
    partial.rename(_record(directory))


def load_record(directory: Path) -> Mount | None:
    try:
        return Mount(**json.loads(_record(directory).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_mounts() -> list[Mount]:
    """The mounts being served now (a directory whose keeper is gone is removed)."""
    home = mounts_home()
    found = []
    for directory in sorted(home.iterdir()) if home.is_dir() else []:
        if not directory.is_dir():
            continue  # a moment's restore lock (``_moment_lock``)
        mount = load_record(directory)
        if mount is not None and alive(mount.keeper_pid):
            found.append(mount)
        elif (mount is not None and mount.keeper_pid is not None) or _stale(directory):
            _orphan_stopped(mount)
            remove_mount(directory)
    return found


def _orphan_stopped(mount: Mount | None) -> None:
    """A keeper killed with SIGKILL could not stop its server: stop it here."""
    if mount is not None and alive(mount.server_pid):
        assert mount.server_pid is not None
        os.kill(mount.server_pid, signal.SIGTERM)


def _stale(directory: Path) -> bool:
    """A directory left by a mount that never started its keeper (killed while restoring)."""
    return time.time() - directory.stat().st_mtime > 24 * 3600


def remove_mount(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def start_mount(
    repo: Repository,
    point: Point | None,
    deployment: str | None,
    namespaces: tuple[str, ...],
    ttl_s: float,
    port: int | None = None,
    jobs: int = 4,
    report: Reporter = silent,
) -> Mount:
    nsmap = NamespaceMap.build(include=namespaces)
    plan, pitr = choose_restore(repo, "latest", point or LATEST, deployment, nsmap)
    restored_to = to_str(pitr.stop_before) if pitr else plan.manifest.end_ts
    key = json.dumps([str(repo.info.get("repo_id")), restored_to, sorted(namespaces)])
    if port and port_taken(port):
        raise EmbeddedServerError(*port_taken_message(port))
    with _moment_lock(key):
        for running in list_mounts():
            if running.key == key:
                running.shared = True
                return running
        return _restore_and_serve(repo, plan, pitr, key, restored_to, namespaces, ttl_s, port, jobs, report)


@contextmanager
def _moment_lock(key: str) -> Iterator[None]:
    """One restore per moment at a time: a second request waits here, then joins the first
    mount. The kernel releases the lock of a process killed while it restored."""
    home = mounts_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / f".restoring-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _restore_and_serve(
    repo: Repository,
    plan: RestorePlan,
    pitr: PitrPlan | None,
    key: str,
    restored_to: str,
    namespaces: tuple[str, ...],
    ttl_s: float,
    port: int | None,
    jobs: int,
    report: Reporter,
) -> Mount:
    directory = mounts_home() / f"m-{uuid.uuid4().hex[:10]}"
    directory.mkdir(parents=True, mode=0o700)
    try:
        with ScratchServer(data_dir=directory / "data") as server:
            client = connect(server.uri, role="staging")
            try:
                result = run_restore(repo, plan, client, RestoreOptions(jobs=jobs), report, pitr)
                password = secrets.token_urlsafe(24)
                client.admin.command("createUser", READER, pwd=password, roles=READER_ROLES)
            finally:
                client.close()
        now = datetime.now(UTC)
        mount = Mount(
            id=directory.name,
            key=key,
            restored_to=restored_to,
            namespaces=sorted(namespaces),
            backup_id=plan.manifest.backup_id,
            documents=result.documents,
            port=port or _free_port(),
            password=password,
            created_at=iso(now),
            expires_at=(now + timedelta(seconds=ttl_s)).isoformat(),
        )
        save_record(directory, mount)
        keeper = _spawn_keeper(directory)
        try:
            return _wait_serving(directory)
        except BaseException:
            keeper.terminate()  # it never served: it stops its server (if any) and goes
            try:
                keeper.wait(30)
            except subprocess.TimeoutExpired:
                keeper.kill()
            raise
    except BaseException:
        remove_mount(directory)
        raise


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_keeper(directory: Path) -> subprocess.Popen[bytes]:
    log = (directory / "keeper.log").open("a")
    keeper = subprocess.Popen(
        [sys.executable, "-m", "mongo_lifeboat.past.keeper", str(directory)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C or hang-up of the command does not reach it
        close_fds=True,
    )
    log.close()
    return keeper


def _wait_serving(directory: Path) -> Mount:
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        mount = load_record(directory)
        if mount is not None and mount.keeper_pid:
            return mount
        if not directory.exists():
            break
        time.sleep(0.1)  # the keeper writes its pid into mount.json once it serves
    log = directory / "keeper.log"
    tail = log.read_text()[-500:] if log.exists() else ""
    raise EmbeddedServerError(f"the mount's server did not start: {tail or 'no output'}")


def stop_mount(mount_id: str, wait_s: float = 30.0) -> Mount:
    directory = mounts_home() / mount_id
    mount = load_record(directory)
    if mount is None:
        running = ", ".join(m.id for m in list_mounts()) or "none"
        raise NotFound(f"no mount {mount_id!r} (running: {running})", "{do}", Remedy("mount-list"))
    if alive(mount.keeper_pid):
        assert mount.keeper_pid is not None
        os.kill(mount.keeper_pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while directory.exists() and alive(mount.keeper_pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the keeper stops the server, then removes the directory
    _orphan_stopped(mount)
    remove_mount(directory)
    return mount
