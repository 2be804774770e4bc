"""Parallel load of raw documents.

Readers (one per data file, a few at a time) verify, decompress and split files into
~1 MiB batches onto a bounded queue; ``jobs`` inserters drain it with unordered
``insert_many``. So several inserters work on one large collection at once, reading
overlaps writing, and memory stays bounded by the queue, whatever the data size.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from .. import interrupts
from ..errors import RestoreFailed
from ..events import CountDocuments
from ..faults import crash_point
from ..remedies import Remedy
from ..repo.manifest import FileEntry
from ..repo.objects import read_documents
from ..repo.storage import Storage

_DUPLICATE_KEY = 11000
BATCH_BYTES = 1 << 20
# One reader keeps every inserter on the same collection at a time, which servers handle
# faster (measured: 2x on SecantusDB) than one writer per collection; it decompresses far
# faster than a server inserts.
_READERS = 1

_Batch = tuple[str, str, list[bytes]]  # (target ns, object key, raw documents)


def _insert(target: MongoClient[Any], batch: _Batch) -> None:
    tns, key, raws = batch
    db, coll = tns.split(".", 1)
    try:
        target[db][coll].insert_many(
            [RawBSONDocument(r) for r in raws], ordered=False, bypass_document_validation=True
        )
    except BulkWriteError as e:
        # A document seen twice by the export scan is harmless; anything else is not.
        errors = [w for w in e.details.get("writeErrors", []) if w.get("code") != _DUPLICATE_KEY]
        if errors or e.details.get("writeConcernErrors"):
            first = (errors or [{}])[0]
            raise RestoreFailed(
                f"loading {tns} from {key} failed: {str(first.get('errmsg', 'write error'))[:300]}"
            ) from e


def _read(storage: Storage, tns: str, entry: FileEntry, put: Callable[[_Batch], None]) -> int:
    seen = 0
    for raws in read_documents(storage, entry, batch_bytes=BATCH_BYTES):
        put((tns, entry.key, raws))
        seen += len(raws)
    if seen != entry.documents:
        raise RestoreFailed(
            f"{entry.key} held {seen} documents but the manifest says {entry.documents}",
            remedy=Remedy("verify-backup"),
        )
    return seen


def put_sentinel(batches: queue.Queue[_Batch | None], stopping: Callable[[], bool]) -> None:
    while True:
        try:
            batches.put(None, timeout=0.2)
            return
        except queue.Full:
            if stopping():
                return  # the inserters end by themselves once the queue is empty


class Loaded:
    """Per collection: documents still to insert, and when its first and last batch went in.
    ``on_loaded(ns)`` is called (from the inserter that finished it) once all of them are in."""

    def __init__(self, files: list[tuple[str, FileEntry]], on_loaded: Callable[[str], None] | None) -> None:
        self._left: dict[str, int] = {}
        for tns, f in files:
            self._left[tns] = self._left.get(tns, 0) + f.documents
        self._on_loaded = on_loaded
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def started(self, tns: str) -> None:
        with self._lock:
            self._first.setdefault(tns, time.monotonic())

    def inserted(self, tns: str, documents: int) -> None:
        with self._lock:
            self._last[tns] = time.monotonic()
            self._left[tns] -= documents
            done = self._left[tns] == 0
        if done and self._on_loaded is not None:
            self._on_loaded(tns)

    def seconds(self) -> dict[str, float]:
        """Per collection, from its first batch sent to its last batch in."""
        return {ns: self._last[ns] - self._first[ns] for ns in self._last}


def load_all(
    target: MongoClient[Any],
    storage: Storage,
    files: list[tuple[str, FileEntry]],
    jobs: int,
    on_progress: CountDocuments | None = None,
    loaded: Loaded | None = None,
) -> int:
    """Load every (target ns, data file); returns the documents inserted."""
    jobs = max(1, jobs)
    batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=2 * jobs)
    failed = threading.Event()
    loaded = loaded or Loaded(files, None)

    def stopping() -> bool:
        return failed.is_set() or interrupts.cancelled.is_set()

    def put(batch: _Batch) -> None:
        while not stopping():
            try:
                batches.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue
        interrupts.check()
        raise RestoreFailed("stopped: another loader failed")

    def inserter() -> int:
        # Every wait is bounded, so a failure or an interruption ends every thread within
        # a batch, whatever the main thread is doing (it may be unwinding from a signal).
        done = 0
        while True:
            try:
                batch = batches.get(timeout=0.2)
            except queue.Empty:
                if stopping():
                    return done
                continue
            if batch is None:
                return done
            if stopping():
                continue  # drain, so readers blocked on put() can see the failure
            try:
                loaded.started(batch[0])
                _insert(target, batch)
                loaded.inserted(batch[0], len(batch[2]))
            except BaseException:
                failed.set()
                raise
            done += len(batch[2])
            if on_progress:
                on_progress(batch[0], len(batch[2]), sum(len(r) for r in batch[2]))
            crash_point("batch-loaded")

    ordered = sorted(files, key=lambda f: -f[1].raw_bytes)  # biggest first: shortest tail
    with (
        ThreadPoolExecutor(jobs, thread_name_prefix="lifeboat-insert") as inserters,
        ThreadPoolExecutor(_READERS, thread_name_prefix="lifeboat-read") as readers,
    ):
        insert_futures = [inserters.submit(inserter) for _ in range(jobs)]
        read_futures = [readers.submit(_read, storage, tns, f, put) for tns, f in ordered]
        read_error: BaseException | None = None
        try:
            for f in read_futures:
                try:
                    f.result()
                except Exception as e:
                    failed.set()
                    read_error = read_error or e
        except BaseException:  # interrupted here: every thread ends at its next batch
            failed.set()
            raise
        for _ in insert_futures:
            put_sentinel(batches, stopping)
        inserted = 0
        insert_error: BaseException | None = None
        for f in insert_futures:
            try:
                inserted += f.result()
            except BaseException as e:
                insert_error = insert_error or e
    # An integrity problem (from a reader) names the object: report it first.
    error = (
        read_error if read_error and not isinstance(read_error, RestoreFailed) else insert_error or read_error
    )
    if error is not None:
        raise error
    return inserted
