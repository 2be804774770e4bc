"""Parallel load of raw documents: every data file is a task; several per large collection."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import BulkWriteError

from ..errors import RestoreFailed
from ..repo.manifest import FileEntry
from ..repo.objects import iter_bson, open_verified
from ..repo.storage import Storage

_DUPLICATE_KEY = 11000

Progress = Callable[[str, int, int], None]  # (target ns, documents, raw bytes)


def load_file(
    target: MongoClient[Any],
    storage: Storage,
    tns: str,
    entry: FileEntry,
    on_progress: Progress | None = None,
) -> int:
    db, coll = tns.split(".", 1)
    collection = target[db][coll]
    loaded = 0
    with open_verified(storage, entry) as stream:
        for batch in iter_bson(stream, entry.key):
            docs = [RawBSONDocument(raw) for raw in batch]
            try:
                collection.insert_many(docs, ordered=False, bypass_document_validation=True)
            except BulkWriteError as e:
                # A document seen twice by the export scan is harmless; anything else is not.
                errors = [w for w in e.details.get("writeErrors", []) if w.get("code") != _DUPLICATE_KEY]
                if errors or e.details.get("writeConcernErrors"):
                    first = (errors or [{}])[0]
                    raise RestoreFailed(
                        f"loading {tns} from {entry.key} failed: {first.get('errmsg', e)}"
                    ) from e
            loaded += len(docs)
            if on_progress:
                on_progress(tns, len(docs), sum(len(r) for r in batch))
    if loaded != entry.documents:
        raise RestoreFailed(
            f"{entry.key} held {loaded} documents but the manifest says {entry.documents}",
            "run `lifeboat verify` on this backup",
        )
    return loaded


def load_all(
    target: MongoClient[Any],
    storage: Storage,
    files: list[tuple[str, FileEntry]],
    jobs: int,
    on_progress: Progress | None = None,
) -> int:
    ordered = sorted(files, key=lambda f: -f[1].raw_bytes)  # biggest first: shortest tail
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="lifeboat-load") as pool:
        futures = [pool.submit(load_file, target, storage, tns, f, on_progress) for tns, f in ordered]
        try:
            return sum(f.result() for f in futures)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
