"""``lifeboat export``: a backup (or a point in time) as mongodump output that mongorestore reads.

``oplog.bson`` carries the backup's bracket, plus the archived oplog up to T for
``--to T``, so ``mongorestore --oplogReplay`` ends in the same state as ``lifeboat
restore``. Output is written beside its destination and renamed into place at the
end: a killed export never leaves something that looks like a finished dump.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bson import Timestamp

from .. import __version__
from ..errors import UsageError
from ..events import CountDocuments
from ..mongo.catalog import BUCKETS
from ..oplog.segments import Segment, backup_oplog_raw, entry_ts
from ..remedies import Remedy
from ..repo.manifest import CollectionEntry, Manifest
from ..repo.objects import read_documents
from ..repo.storage import Storage
from ..timestamps import to_str
from .archive import OPLOG, ArchiveNamespace, ArchiveWriter
from .metadata import render_metadata
from .names import escape_collection

FORMATS = ("mongodump-dir", "mongodump-archive")
TOOL_VERSION = f"lifeboat {__version__}"
_GZIP_LEVEL = 6


@dataclass
class ExportReport:
    path: str
    format: str
    gzip: bool
    backup_id: str
    restore_to: str  # the state mongorestore --oplogReplay reproduces (exclusive for --to)
    collections: int
    documents: int
    oplog_entries: int

    @property
    def mongorestore(self) -> str:
        gz = " --gzip" if self.gzip else ""
        where = f"--archive={self.path}" if self.format == "mongodump-archive" else f"--dir={self.path}"
        return f"mongorestore --oplogReplay{gz} {where}"


@dataclass(frozen=True)
class ExportSource:
    """What to export: a backup, and for ``--to`` the archived segments and where to stop."""

    storage: Storage
    manifest: Manifest
    segments: tuple[Segment, ...] = ()
    stop_before: Timestamp | None = None

    def documents(self, entry: CollectionEntry) -> Iterator[list[bytes]]:
        for f in entry.files:
            yield from read_documents(self.storage, f)

    def oplog(self) -> Iterator[bytes]:
        for raw in backup_oplog_raw(self.storage, self.manifest, self.segments):
            if self.stop_before is not None and entry_ts(raw) >= self.stop_before:
                return
            yield raw


def _has_metadata(entry: CollectionEntry) -> bool:
    return not entry.name.startswith(BUCKETS)  # buckets travel under their time-series collection


def _has_data(entry: CollectionEntry) -> bool:
    return entry.type == "collection"


def _metadata(entry: CollectionEntry) -> str:
    return render_metadata(entry.name, entry.type, entry.options, entry.indexes, entry.uuid)


def _prepare(out: Path, directory: bool) -> Path:
    """A fresh sibling to write into; refuses to touch an existing destination (except an
    empty directory for a directory dump)."""
    if out.exists() and not (directory and out.is_dir() and not any(out.iterdir())):
        raise UsageError(
            f"{out} already exists", "export writes a new dump: remove it or {do}", Remedy("other-output")
        )
    partial = out.with_name(f".{out.name}.lifeboat-partial-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    return partial


@contextlib.contextmanager
def _output(path: Path, gz: bool) -> Iterator[BinaryIO]:
    with path.open("wb") as raw:
        if gz:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as z:
                yield z  # type: ignore[misc]
        else:
            yield raw
        raw.flush()
        os.fsync(raw.fileno())


def _report(src: ExportSource, path: str, fmt: str, gz: bool, counts: dict[str, int]) -> ExportReport:
    to = to_str(src.stop_before) if src.stop_before else src.manifest.end_ts
    return ExportReport(
        path, fmt, gz, src.manifest.backup_id, to, counts["collections"], counts["documents"], counts["oplog"]
    )


def export_directory(
    src: ExportSource, out: Path, gz: bool, on_progress: CountDocuments | None = None
) -> ExportReport:
    partial = _prepare(out, directory=True)
    counts = {"collections": 0, "documents": 0, "oplog": 0}
    ext = ".gz" if gz else ""
    try:
        partial.mkdir(parents=True)
        with _output(partial / f"prelude.json{ext}", gz) as f:
            f.write(
                json.dumps(
                    {"ServerVersion": src.manifest.server_version, "ToolVersion": TOOL_VERSION}
                ).encode()
            )
        for entry in src.manifest.collections:
            dbdir = partial / entry.db
            dbdir.mkdir(exist_ok=True)
            stem = escape_collection(entry.name)
            if _has_metadata(entry):
                with _output(dbdir / f"{stem}.metadata.json{ext}", gz) as f:
                    f.write(_metadata(entry).encode())
            if _has_data(entry):
                with _output(dbdir / f"{stem}.bson{ext}", gz) as f:
                    for docs in src.documents(entry):
                        f.write(b"".join(docs))
                        counts["documents"] += len(docs)
                        if on_progress:
                            on_progress(entry.ns, len(docs), sum(map(len, docs)))
            counts["collections"] += 1
        with _output(partial / "oplog.bson", gz) as f:  # gzipped under its plain name, as mongodump does
            for raw in src.oplog():
                f.write(raw)
                counts["oplog"] += 1
        for d in [partial, *(p for p in partial.iterdir() if p.is_dir())]:
            _durable_dir(d)
        if out.exists():
            out.rmdir()
        partial.rename(out)
        _durable_dir(out.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _report(src, str(out), "mongodump-dir", gz, counts)


def _durable_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_archive(
    src: ExportSource, out: BinaryIO, counts: dict[str, int], on_progress: CountDocuments | None
) -> None:
    entries = src.manifest.collections
    listed = [ArchiveNamespace(e.db, e.name, _metadata(e), e.type) for e in entries if _has_metadata(e)]
    listed.append(ArchiveNamespace(OPLOG[0], OPLOG[1], "", ""))
    writer = ArchiveWriter(out, listed, src.manifest.server_version, TOOL_VERSION)
    for entry in entries:
        counts["collections"] += 1
        key = (entry.db, entry.name)
        if entry.type == "view":
            # No documents, but seen whole (an empty block, then its end), as mongodump writes
            # it: mongorestore fails on a listed namespace it never sees the end of.
            writer.end(key)
            continue
        if not _has_data(entry):
            continue
        for docs in src.documents(entry):
            writer.write(key, docs)
            counts["documents"] += len(docs)
            if on_progress:
                on_progress(entry.ns, len(docs), sum(map(len, docs)))
        writer.end(key)
    batch: list[bytes] = []
    for raw in src.oplog():
        batch.append(raw)
        counts["oplog"] += 1
        if len(batch) >= 10_000:
            writer.write(OPLOG, batch)
            batch = []
    writer.write(OPLOG, batch)
    writer.end(OPLOG)


def export_archive(
    src: ExportSource, out: str, gz: bool, on_progress: CountDocuments | None = None
) -> ExportReport:
    """Write an archive to ``out`` (``-``: standard output)."""
    counts = {"collections": 0, "documents": 0, "oplog": 0}
    if out == "-":
        stdout = sys.stdout.buffer
        if gz:
            with gzip.GzipFile(fileobj=stdout, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as z:
                _write_archive(src, z, counts, on_progress)  # type: ignore[arg-type]
        else:
            _write_archive(src, stdout, counts, on_progress)
        stdout.flush()
        return _report(src, out, "mongodump-archive", gz, counts)
    path = Path(out)
    partial = _prepare(path, directory=False)
    try:
        with _output(partial, gz) as f:
            _write_archive(src, f, counts, on_progress)
        partial.rename(path)
        _durable_dir(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _report(src, out, "mongodump-archive", gz, counts)
