"""Index builds overlapped with the load: a collection's indexes are built as soon as its
documents are in, while the next collections load — where the replay cannot change it.

The replay (the backup's bracket, then archived segments) may still write a collection, and a
collection copied while it was written is consistent only after the replay: a unique index
built before could refuse a state only the replay resolves, and a command in the replay may
change the specs. So only a *settled* collection is built early: no operation of the replay
writes it and no command of the replay touches its database. Finding that out reads the replay
once more before the load, which is done only when the replay is small beside the data (a
quarter of its stored bytes); otherwise every index is built after the replay, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pymongo import MongoClient

from ..oplog.apply.entries import units
from ..oplog.apply.indexes import IndexCatalog
from ..oplog.segments import Segment, backup_oplog
from ..repo.storage import Storage
from .plan import RestorePlan

REREAD_SHARE = 0.25  # the replay is read twice only when it is at most this share of the data


def replayed(entries: Iterable[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(namespaces the replay writes, databases a command of the replay touches)."""
    written: set[str] = set()
    commanded: set[str] = set()
    for unit in units(entries):
        for op in unit.ops:
            if op.op == "c":  # any command: its whole database (both, for a rename) is left to the end
                commanded.add(op.db)
                if op.command == "renameCollection":
                    commanded.add(str(op.o.get("to", "")).split(".", 1)[0])
            elif op.op in ("i", "u", "d"):
                written.add(op.ns)
    return written, commanded


def settled_namespaces(storage: Storage, plan: RestorePlan, segments: list[Segment]) -> set[str]:
    """The plan's collections (source names) the replay cannot change; empty when the replay
    is too large to read twice."""
    replay_bytes = plan.manifest.oplog.file.size + sum(s.size for s in segments)
    data_bytes = sum(f.size for _, f in plan.files)
    if replay_bytes > REREAD_SHARE * data_bytes:
        return set()
    written, commanded = replayed(backup_oplog(storage, plan.manifest, segments))
    return {
        t.source_ns
        for t in plan.collections
        if not t.is_buckets
        and t.entry.type == "collection"
        and t.source_ns not in written
        and t.entry.db not in commanded
    }


class EarlyIndexes:
    """Builds a settled collection's indexes (one ``createIndexes`` with every spec) in the
    background as soon as its load ends; ``jobs`` bounds the builds in flight."""

    def __init__(
        self, target: MongoClient[Any], catalog: IndexCatalog, plan: RestorePlan, settled: set[str], jobs: int
    ) -> None:
        self._target, self._catalog, self._settled = target, catalog, settled
        self._source_of = {t.target_ns: t.source_ns for t in plan.collections}
        self._pool = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="lifeboat-index")
        self._lock = threading.Lock()
        self._builds: list[Future[None]] = []
        self.built: set[str] = set()  # source namespaces whose indexes are built (or building)
        self.index_s: dict[str, float] = {}  # target ns -> seconds its build took

    def loaded(self, target_ns: str) -> None:
        """Called (from a loader thread) once every document of ``target_ns`` is in."""
        source_ns = self._source_of.get(target_ns)
        if source_ns not in self._settled or not self._catalog.specs(source_ns):
            return
        with self._lock:
            self.built.add(source_ns)
            self._builds.append(self._pool.submit(self._build, source_ns, target_ns))

    def _build(self, source_ns: str, target_ns: str) -> None:
        started = time.monotonic()
        self._catalog.build_one(self._target, source_ns, target_ns)
        self.index_s[target_ns] = time.monotonic() - started

    def finish(self) -> int:
        """Wait for every build; raises the first failure. Returns the indexes built."""
        try:
            for build in list(self._builds):
                build.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return sum(len(self._catalog.specs(ns)) for ns in self.built)

    def abandon(self) -> None:
        """On a failure or an interruption: nothing new starts (a build in flight ends by itself)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
