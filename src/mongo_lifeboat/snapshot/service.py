"""``lifeboat snapshot``: a consistent volume snapshot of one member, recorded as a base.

How the data files are made consistent (``[snapshot] consistency``):

- ``fsync-lock`` (default): ``fsync`` with ``lock: true`` flushes and blocks writes; the newest
  oplog entry is read under the lock (the exact consistent point); the provider snapshots;
  ``fsyncUnlock`` follows on every path — success, a provider error, SIGTERM, and a hard limit
  (``lock_timeout``, after which writes are unlocked by a timer and the snapshot is refused as
  not consistent, its provider snapshot deleted).
- ``journal``: no lock; the snapshot is crash-consistent because data and journal are on one
  volume (the operator states it; the record says so). The data's newest entry lies between
  the positions read before and after.
- ``cold``: the ``pre`` hook stops the member, the provider copies, the ``post`` hook starts it
  (``post`` runs on every path). The data's newest entry lies between the newest entry before
  the stop and the newest after the restart.

The record is written last; a failure anywhere leaves none (and the provider snapshot is
deleted where it was made).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from .. import __version__
from ..catalog import snapshots as records
from ..errors import SnapshotFailed, SourceUnreachable
from ..events import Reporter, Update, silent
from ..mongo import members
from ..mongo.client import connect
from ..mongo.topology import replica_set_name
from ..oplog.reader import newest_ts
from ..repo.repository import Repository
from ..timestamps import iso, to_str
from .providers import Context, Provider, run, shell


@dataclass(frozen=True)
class SnapshotOptions:
    source_uri: str
    member: str = "auto"
    consistency: str = "fsync-lock"
    lock_timeout_s: float = 120.0
    pre: str | None = None
    post: str | None = None
    timeout_ms: int = 10_000
    restart_wait_s: float = 300.0  # cold: how long the member may take to answer again


class WriteLock:
    """``fsyncLock`` held for as short as possible: released by ``__exit__`` on every path,
    by a timer at ``limit_s``, and by SIGTERM (which then fails the snapshot)."""

    def __init__(self, client: MongoClient[Any], limit_s: float) -> None:
        self.client = client
        self.limit_s = limit_s
        self.expired = False
        self.held_s = 0.0
        self._locked = False
        self._since = 0.0
        self._guard = threading.Lock()
        self._timer = threading.Timer(limit_s, self._expire)
        self._timer.daemon = True
        self._old_handler: Any = None

    def __enter__(self) -> WriteLock:
        try:
            self.client.admin.command("fsync", lock=True)
        except OperationFailure as e:
            raise SnapshotFailed(
                f"locking writes (fsync lock) failed: the member refused it ({e.details.get('errmsg', e) if e.details else e}); "
                "nothing was taken or recorded",
                'this server cannot lock writes: set [snapshot] consistency = "journal" (data and journal on '
                'one volume, snapshotted atomically) or "cold" (the member stopped by [snapshot] pre/post)',
            ) from e
        self._locked, self._since = True, time.monotonic()
        self._timer.start()
        if threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGTERM, self._terminated)
        return self

    def unlock(self) -> None:
        with self._guard:
            if not self._locked:
                return
            self._locked = False
            self.held_s = round(time.monotonic() - self._since, 3)
        self.client.admin.command("fsyncUnlock")

    def _expire(self) -> None:
        self.expired = True
        self.unlock()

    def _terminated(self, signum: int, frame: Any) -> None:
        self.unlock()
        raise SnapshotFailed(
            "stopped by SIGTERM while writes were locked: writes were unlocked, nothing recorded"
        )

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        try:
            self.unlock()
        finally:
            if self._old_handler is not None:
                signal.signal(signal.SIGTERM, self._old_handler)


def _hook(what: str, command: str | None, ctx: Context) -> None:
    if command:
        run(what, shell(command), ctx)


def _wait_for_member(uri: str, host: str, timeout_ms: int, wait_s: float) -> MongoClient[Any]:
    deadline = time.monotonic() + wait_s
    while True:
        client = members.member_client(uri, host, serverSelectionTimeoutMS=timeout_ms)
        try:
            newest_ts(client)
            return client
        except PyMongoError as e:
            client.close()
            if time.monotonic() > deadline:
                raise SnapshotFailed(
                    f"the member {host} did not answer within {wait_s:g}s after the snapshot: {e}"
                ) from e
            time.sleep(0.5)  # polling the restarting member, not waiting out a race


def take_snapshot(
    repo: Repository, opts: SnapshotOptions, provider: Provider, report: Reporter = silent
) -> records.SnapshotManifest:
    started, t0 = datetime.now(UTC), time.monotonic()
    cluster = connect(opts.source_uri, role="source", timeout_ms=opts.timeout_ms)
    try:
        deployment = replica_set_name(cluster.admin.command("hello"), "a snapshot base needs its oplog")
        chosen = members.choose(members.discover(cluster), opts.member)
    finally:
        cluster.close()
    client = members.member_client(opts.source_uri, chosen.host, serverSelectionTimeoutMS=opts.timeout_ms)
    ctx = Context(records.new_snapshot_id(started), deployment, chosen.host)
    made = False
    try:
        version = str(client.admin.command("buildInfo").get("version", "unknown"))
        lock_held: float | None = None
        if opts.consistency == "fsync-lock":
            report(Update("snapshot", "phase", "lock", "locking writes (fsyncLock)"))
            with WriteLock(client, opts.lock_timeout_s) as lock:
                start = end = newest_ts(client)
                _hook("pre", opts.pre, ctx)
                try:
                    report(Update("snapshot", "phase", "snapshot", f"snapshot ({provider.name})"))
                    ids, volumes = provider.snapshot(ctx)
                    ctx.provider_ids, made = ids, True
                finally:
                    _hook("post", opts.post, ctx)
            lock_held = lock.held_s
            report(Update("snapshot", "phase", "unlocked", f"writes unlocked after {lock.held_s:.2f}s"))
            if lock.expired:
                raise SnapshotFailed(
                    f"the snapshot took longer than lock_timeout ({opts.lock_timeout_s:g}s): writes were unlocked "
                    "before it finished, so it is not consistent; nothing recorded",
                    'raise [snapshot] lock_timeout, or use consistency = "journal" with data and journal on one volume',
                )
        else:
            start = newest_ts(client)
            try:
                _hook("pre", opts.pre, ctx)  # cold: the member stops here
                report(Update("snapshot", "phase", "snapshot", f"snapshot ({provider.name})"))
                ids, volumes = provider.snapshot(ctx)
                ctx.provider_ids, made = ids, True
            finally:
                _hook("post", opts.post, ctx)  # cold: … and starts again, whatever happened
            if opts.consistency == "cold":
                client.close()
                client = _wait_for_member(opts.source_uri, chosen.host, opts.timeout_ms, opts.restart_wait_s)
            end = newest_ts(client)
        ctx.consistent_from, ctx.consistent_to = to_str(start), to_str(end)
        manifest = records.SnapshotManifest(
            snapshot_id=ctx.snapshot_id,
            deployment=deployment,
            member=chosen.host,
            server_version=version,
            provider=provider.name,
            provider_ids=ids,
            volumes=volumes,
            consistency=opts.consistency,  # type: ignore[arg-type]
            started_at=iso(started),
            finished_at=iso(datetime.now(UTC)),
            duration_s=round(time.monotonic() - t0, 3),
            lock_held_s=lock_held,
            consistent_from=to_str(start),
            consistent_to=to_str(end),
            tool_version=__version__,
        )
        records.store(repo.storage, manifest)  # the commit point
        made = False
        return manifest
    except PyMongoError as e:
        raise SourceUnreachable(f"the member {chosen.host} failed during the snapshot: {e}") from e
    finally:
        if made:  # made, but not recorded: it is not a base, so it does not stay
            try:
                provider.delete(ctx)
            except SnapshotFailed as e:
                report(
                    Update(
                        "snapshot",
                        "notice",
                        "left-behind",
                        f"could not delete the unrecorded provider snapshot: {e.message}",
                    )
                )
        client.close()
