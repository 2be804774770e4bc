"""A storage backend held in memory, for tests that need a repository and no disk. It passes
the same contract as every real backend (``tests/unit/test_storage_contract.py``), so a test
that uses it proves the same as one on files, faster."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from mongo_lifeboat.repo.storage import ObjectInfo, ObjectMissing, check_key

_names = itertools.count()


@dataclass(frozen=True)
class _Object:
    data: bytes
    meta: dict[str, str]
    version: int


class MemoryStorage:
    def __init__(self, name: str | None = None) -> None:
        self.url = f"memory://{name or next(_names)}"
        self._objects: dict[str, _Object] = {}
        self._versions = itertools.count(1)
        self._lock = threading.Lock()

    def _set(self, key: str, data: bytes, meta: dict[str, str]) -> ObjectInfo:
        self._objects[key] = _Object(data, dict(meta), next(self._versions))
        return ObjectInfo(key, len(data), dict(meta))

    def _get(self, key: str) -> _Object:
        check_key(key)
        found = self._objects.get(key)
        if found is None:
            raise ObjectMissing(key)
        return found

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        check_key(key)
        data = stream.read()  # whole before it is visible: readers see all or nothing
        with self._lock:
            return self._set(key, data, meta or {})

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        with self._lock:
            data = self._get(key).data
        end = len(data) if length is None else offset + length
        return io.BytesIO(data[offset:end])

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        with self._lock:
            found = sorted((k, o) for k, o in self._objects.items() if k.startswith(prefix))
        for key, obj in found:
            yield ObjectInfo(key, len(obj.data), dict(obj.meta) if with_meta else {})

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._objects.pop(key, None)

    def stat(self, key: str) -> ObjectInfo:
        with self._lock:
            obj = self._get(key)
        return ObjectInfo(key, len(obj.data), dict(obj.meta))

    def create(self, key: str, data: bytes) -> bool:
        check_key(key)
        with self._lock:
            if key in self._objects:
                return False
            self._set(key, data, {})
            return True

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        with self._lock:
            obj = self._get(key)
        return obj.data, str(obj.version)

    def replace(self, key: str, data: bytes, version: str) -> bool:
        check_key(key)
        with self._lock:
            current = self._objects.get(key)
            if current is None or str(current.version) != version:
                return False
            self._set(key, data, current.meta)
            return True

    def locked_until(self, key: str) -> datetime | None:
        return None  # no retention in memory

    def undelete(self, prefix: str) -> tuple[str, ...]:
        return ()  # keeps no versions

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return ()  # a put is one assignment: nothing is ever half-written
