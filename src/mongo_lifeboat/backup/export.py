"""Parallel raw-BSON export: cursor batches go straight to the compressor, undecoded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import MongoClient

from ..mongo.catalog import SourceCollection
from ..repo import layout
from ..repo.manifest import FileEntry
from ..repo.objects import ObjectWriter, count_documents
from ..repo.storage import Storage

DEFAULT_CHUNK_BYTES = 64 << 20  # uncompressed bytes per data file: the unit of restore parallelism

Progress = Callable[[str, int, int], None]  # (ns, documents, raw bytes) since last call


def export_collection(
    client: MongoClient[Any],
    storage: Storage,
    deployment: str,
    backup_id: str,
    coll: SourceCollection,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: Progress | None = None,
) -> list[FileEntry]:
    """Write ``coll`` as one or more ``.bson.zst`` chunks; cut only between cursor batches."""
    files: list[FileEntry] = []
    chunk = 0
    writer: ObjectWriter | None = None
    try:
        cursor = client[coll.db][coll.name].find_raw_batches({}, batch_size=1000)
        for raw in cursor:
            if writer is None:
                writer = ObjectWriter(
                    storage, layout.data_key(deployment, backup_id, coll.db, coll.name, chunk)
                )
            docs = count_documents(raw)
            writer.write(raw, docs)
            if on_progress:
                on_progress(coll.ns, docs, len(raw))
            if writer.raw_bytes >= chunk_bytes:
                files.append(writer.commit())
                writer = None
                chunk += 1
        if writer is not None:
            files.append(writer.commit())
            writer = None
    finally:
        if writer is not None:
            writer.abandon()
    return files
