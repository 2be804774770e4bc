"""``lifeboat import-mongodump``: a mongodump output becomes a base backup.

The dump's ``oplog.bson`` becomes the backup's bracket, so the backup is consistent at
its last entry (a dump without one is consistent at no single point: it is restorable
as it is, but never a base for point-in-time restore). Every document is decoded once
to prove it is valid BSON before it is stored; nothing is listed as complete before
the manifest, and a refused import deletes what it had written.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
from bson import Timestamp
from bson.errors import InvalidBSON

from .. import __version__
from ..backup.export import DEFAULT_CHUNK_BYTES, write_collection_meta
from ..ejson import to_ejson
from ..errors import DumpInvalid, LifeboatError
from ..events import CountDocuments
from ..repo import layout
from ..repo.manifest import CollectionEntry, ImportOrigin, Manifest, OplogBracket
from ..repo.objects import ChunkedWriter, ObjectWriter
from ..repo.repository import Repository
from ..timestamps import iso, just_before, to_str
from .archive import OPLOG
from .source import Batch, Dump, Key, open_dump

DEFAULT_JOBS = min(4, os.cpu_count() or 1)


@dataclass
class ImportReport:
    manifest: Manifest
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _decode_all(docs: list[bytes], where: str, before: int) -> list[dict[str, Any]]:
    """Decode (and so validate) a batch; ``before`` documents of ``where`` came earlier."""
    try:
        return bson.decode_all(b"".join(docs))
    except (InvalidBSON, ValueError, OverflowError):
        _refuse(_first_invalid_document(docs), where, before)
        raise


def _refuse(bad: tuple[int, str] | None, where: str, before: int) -> None:
    if bad is not None:
        raise DumpInvalid(f"{where}: document {before + bad[0] + 1} is not valid BSON ({bad[1]})")


def _first_invalid_document(docs: list[bytes]) -> tuple[int, str] | None:
    """(index, reason) of the first document that does not decode, or None. Runs in worker
    processes: decoding is the one CPU-heavy part of an import, and holds the GIL."""
    try:
        bson.decode_all(b"".join(docs))
        return None
    except (InvalidBSON, ValueError, OverflowError):
        pass
    for i, raw in enumerate(docs):
        try:
            bson.decode(raw)
        except (InvalidBSON, ValueError, OverflowError) as e:
            return i, str(e)
    return len(docs), "the documents do not decode together"


class _Validation:
    """Documents are checked on ``jobs`` processes while they are stored; every check has
    passed before the manifest is written (or the import is refused)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
        self._pending: deque[tuple[Future[tuple[int, str] | None], str, int]] = deque()

    def submit(self, docs: list[bytes], where: str, before: int) -> None:
        if self._pool is None:
            _refuse(_first_invalid_document(docs), where, before)
            return
        self._pending.append((self._pool.submit(_first_invalid_document, docs), where, before))
        while len(self._pending) > 2 * self.jobs:  # bounded: at most a few batches in flight
            self._settle_one()

    def _settle_one(self) -> None:
        future, where, before = self._pending.popleft()
        _refuse(future.result(), where, before)

    def finish(self) -> None:
        while self._pending:
            self._settle_one()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _Oplog:
    """The dump's oplog.bson, checked (every entry has a ts and an op) as it is stored.

    Entries are replayed in file order, as mongorestore does; the bracket spans from
    just before the oldest to the newest (hand-made oplogs are not always sorted).
    """

    def __init__(self, writer: ObjectWriter) -> None:
        self.writer = writer
        self.first: Timestamp | None = None
        self.last: Timestamp | None = None
        self.last_wall: datetime | None = None

    def add(self, batch: Batch, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            ts = entry.get("ts")
            if not isinstance(ts, Timestamp) or not isinstance(entry.get("op"), str):
                raise DumpInvalid(f"{batch.where}: an entry without a valid ts and op: not an oplog entry")
            self.first = min(self.first, ts) if self.first else ts
            if self.last is None or ts >= self.last:
                self.last = ts
                wall = entry.get("wall")
                self.last_wall = wall if isinstance(wall, datetime) else datetime.fromtimestamp(ts.time, UTC)
        self.writer.write(b"".join(batch.documents), len(batch.documents))


def _check_users(batch: Batch, docs: list[dict[str, Any]]) -> None:
    """A database's $admin.system.* file holds only that database's users and roles."""
    for doc in docs:
        if doc.get("db") != batch.users_of:
            raise DumpInvalid(
                f"{batch.where}: holds {doc.get('user') or doc.get('role')!r} of database "
                f"{doc.get('db')!r}; mongodump writes only {batch.users_of!r}'s users and roles there"
            )


def _unique_id(repo: Repository, deployment: str, when: datetime) -> str:
    taken = {b.backup_id for b in repo.list_backups() if b.deployment_key == layout.escape_name(deployment)}
    when = when.replace(microsecond=0)
    while layout.new_backup_id(when) in taken:
        when += timedelta(seconds=1)
    return layout.new_backup_id(when)


def import_dump(
    repo: Repository,
    path: str,
    deployment: str,
    *,
    db: str | None = None,
    collection: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    jobs: int = DEFAULT_JOBS,
    on_progress: CountDocuments | None = None,
) -> ImportReport:
    t0 = time.monotonic()
    dump = open_dump(path, db, collection)
    backup_id = _unique_id(repo, deployment, dump.dump_time)
    storage = repo.storage
    writers: dict[Key, ChunkedWriter] = {}
    oplog = _Oplog(
        ObjectWriter(storage, layout.bracket_key(deployment, backup_id, Timestamp(0, 0), Timestamp(0, 0)))
    )
    validation = _Validation(jobs)
    try:
        seen: dict[str, int] = {}
        for batch in dump.batches():
            before = seen.get(batch.where, 0)
            seen[batch.where] = before + len(batch.documents)
            if batch.key == OPLOG:
                oplog.add(batch, _decode_all(batch.documents, batch.where, before))
                continue
            if batch.users_of is not None:
                _check_users(batch, _decode_all(batch.documents, batch.where, before))
            else:
                validation.submit(batch.documents, batch.where, before)
            if batch.key not in writers:
                db_name, coll = batch.key
                writers[batch.key] = ChunkedWriter(
                    storage,
                    lambda n, d=db_name, c=coll: layout.data_key(deployment, backup_id, d, c, n),  # type: ignore[misc]
                    chunk_bytes,
                )
            raw = b"".join(batch.documents)
            writers[batch.key].write(raw, len(batch.documents))
            if on_progress:
                on_progress(f"{batch.key[0]}.{batch.key[1]}", len(batch.documents), len(raw))
        validation.finish()
        manifest = _commit(repo, dump, deployment, backup_id, writers, oplog, time.monotonic() - t0)
    except BaseException:
        validation.close()
        for w in writers.values():
            w.abandon()
        oplog.writer.abandon()
        _remove(repo, deployment, backup_id)
        raise
    validation.close()
    return ImportReport(manifest, dump.skipped, dump.warnings)


def _remove(repo: Repository, deployment: str, backup_id: str) -> None:
    """Best effort: a refused import leaves nothing behind (a killed one is listed incomplete)."""
    keys = [obj.key for obj in repo.storage.list(layout.backup_prefix(deployment, backup_id))]
    with contextlib.suppress(OSError, LifeboatError):
        repo.storage.delete(keys)


def _commit(
    repo: Repository,
    dump: Dump,
    deployment: str,
    backup_id: str,
    writers: dict[Key, ChunkedWriter],
    oplog: _Oplog,
    elapsed: float,
) -> Manifest:
    storage = repo.storage
    if oplog.last is not None and oplog.first is not None:
        start, end = just_before(oplog.first), oplog.last
        taken = oplog.last_wall or dump.dump_time
    else:  # no oplog: the dump's own time is the best position there is
        start = end = Timestamp(int(dump.dump_time.timestamp()), 0)
        taken = dump.dump_time
    oplog.writer.key = layout.bracket_key(deployment, backup_id, start, end)
    oplog_file = oplog.writer.commit()
    entries: list[CollectionEntry] = []
    for key, ns in sorted(dump.namespaces.items()):
        files = writers[key].finish() if key in writers else []
        options, indexes = to_ejson(ns.meta.options), [to_ejson(ix) for ix in ns.meta.indexes]
        meta = write_collection_meta(
            storage, deployment, backup_id, ns.db, ns.name, ns.meta.type, options, indexes, ns.meta.uuid
        )
        entries.append(
            CollectionEntry(
                db=ns.db,
                name=ns.name,
                type=ns.meta.type,  # type: ignore[arg-type]
                uuid=ns.meta.uuid,
                options=options,
                indexes=indexes,
                documents=sum(f.documents for f in files),
                raw_bytes=sum(f.raw_bytes for f in files),
                files=files,
                meta=meta,
            )
        )
    manifest = Manifest(
        tool_version=__version__,
        backup_id=backup_id,
        deployment=deployment,
        member=f"mongodump {Path(dump.path).name or dump.path}",
        server_version=dump.server_version,
        started_at=iso(taken),
        finished_at=iso(taken),
        duration_s=round(elapsed, 3),
        start_ts=to_str(start),
        end_ts=to_str(end),
        collections=entries,
        oplog=OplogBracket(
            start_ts=to_str(start), end_ts=to_str(end), entries=oplog_file.documents, file=oplog_file
        ),
        phases={"import": round(elapsed, 3)},
        imported_from=ImportOrigin(
            format=dump.kind,  # type: ignore[arg-type]
            path=dump.path if dump.path == "-" else os.path.abspath(dump.path),
            gzip=dump.gzip,
            tool_version=dump.tool_version,
            imported_at=iso(datetime.now(UTC)),
            # An empty oplog.bson proves no point: mongodump --oplog always writes at least
            # the entry it started from, so only entries make the dump a point-in-time base.
            has_oplog=dump.has_oplog and oplog.last is not None,
        ),
    )
    repo.write_manifest(manifest)  # the commit point
    return manifest
