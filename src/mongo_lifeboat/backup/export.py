"""Parallel raw-BSON export: cursor batches go straight to the compressor, undecoded."""

from __future__ import annotations

import json
from typing import Any

from pymongo import MongoClient

from .. import interrupts
from ..ejson import dumps as ejson_dumps
from ..events import CountDocuments
from ..faults import crash_point
from ..mongo.catalog import SourceCollection
from ..repo import layout
from ..repo.manifest import FileEntry
from ..repo.objects import ChunkedWriter, count_documents, put_object
from ..repo.storage import Storage

DEFAULT_CHUNK_BYTES = 64 << 20  # uncompressed bytes per data file: the unit of restore parallelism


def export_collection(
    client: MongoClient[Any],
    storage: Storage,
    deployment: str,
    backup_id: str,
    coll: SourceCollection,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: CountDocuments | None = None,
) -> list[FileEntry]:
    """Write ``coll`` as one or more ``.bson.zst`` chunks; cut only between cursor batches."""
    writer = ChunkedWriter(
        storage, lambda chunk: layout.data_key(deployment, backup_id, coll.db, coll.name, chunk), chunk_bytes
    )
    try:
        for raw in client[coll.db][coll.name].find_raw_batches({}, batch_size=1000):
            interrupts.check()  # an interrupted backup stops within a batch
            docs = count_documents(raw)
            writer.write(raw, docs)
            if on_progress:
                on_progress(coll.ns, docs, len(raw))
            crash_point("batch-exported")
        return writer.finish()
    finally:
        writer.abandon()


def write_collection_meta(
    storage: Storage,
    deployment: str,
    backup_id: str,
    db: str,
    name: str,
    kind: str,
    options: dict[str, Any],
    indexes: list[dict[str, Any]],
    uuid: str | None,
) -> FileEntry:
    """The collection's metadata object (the manifest has it too; this copy travels with the data)."""
    doc = {"collectionName": name, "type": kind, "options": options, "indexes": indexes, "uuid": uuid}
    return put_object(
        storage,
        layout.meta_key(deployment, backup_id, db, name),
        json.dumps(json.loads(ejson_dumps(doc)), indent=1).encode(),
    )
