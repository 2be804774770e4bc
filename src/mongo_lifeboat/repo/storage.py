"""The narrow storage interface every backend implements.

Callers above this module never see paths, buckets or SDKs: only keys (``/``-separated,
relative, produced by :mod:`repo.layout`) and byte streams. Every backend must pass
``tests/unit/test_storage_contract.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    meta: dict[str, str] = field(default_factory=dict)


class ObjectMissing(KeyError):
    """The key does not exist in the store."""


class TransientStorageError(OSError):
    """A failure worth retrying: a timeout, a dropped connection, throttling. Backends raise
    it (or an OSError with a transient errno); ``repo.retrying`` retries it with backoff."""


def check_key(key: str) -> None:
    """Keys are relative, ``/``-separated, with no empty, ``.`` or ``..`` part (every backend)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"unsafe object key: {key!r}")


class Storage(Protocol):
    """All operations are safe to retry; ``put`` is atomic (readers see all or nothing)."""

    url: str

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo: ...

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """A readable stream of the object (or part of it). Raises ObjectMissing."""
        ...

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, with its size. Its
        ``meta`` only with ``with_meta`` (object stores list without it: it costs a request
        per object there)."""
        ...

    def delete(self, keys: Iterable[str]) -> None:
        """Delete keys; missing keys are not an error."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """Raises ObjectMissing."""
        ...

    def create(self, key: str, data: bytes) -> bool:
        """Atomically create ``key`` only if it does not exist; False if it did (for leases)."""
        ...

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        """A small object's bytes and its version (changes whenever the object does).
        Raises ObjectMissing."""
        ...

    def locked_until(self, key: str) -> datetime | None:
        """When an object under retention (Object Lock) may be deleted; None if it may now."""
        ...

    def undelete(self, prefix: str) -> tuple[str, ...]:
        """Bring back the objects under ``prefix`` that a delete hid but a versioned store
        still holds (their newest version is a delete marker); the keys brought back. A store
        that keeps no versions has nothing to bring back: []."""
        ...

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        """Remove what killed writes left half-written and untouched for ``older_than_s``
        (a directory's ``.tmp-`` files, a bucket's incomplete multipart uploads); the names of
        what was (or, with ``dry_run``, would be) removed. Never visible as objects, nor ever
        an object's own key; a store that leaves none: ()."""
        ...

    def replace(self, key: str, data: bytes, version: str) -> bool:
        """Compare-and-swap: write ``data`` only if ``key`` is still at ``version``; False if
        it changed or is gone (two writers racing: exactly one wins)."""
        ...
