"""Retries with backoff around any storage, bounded by a deadline.

Every repository is opened through this layer. A transient failure (a timeout, a dropped
connection, an I/O error on a network filesystem, a request the store asked us to slow down
for) is retried with exponential backoff and jitter; once the deadline is spent the caller
gets one :class:`StorageFailed` naming the operation, the object and the repository. Anything
else — a missing object, a permission error, a full disk — is passed through at once: retrying
it would only delay the same answer.

S3 repositories have boto's own retries underneath; what reaches this layer from them has
already exhausted those, so it is not transient here.
"""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, TypeVar

from ..errors import StorageFailed
from ..secrets import redact
from .storage import ObjectInfo, Storage, TransientStorageError

T = TypeVar("T")

DEFAULT_DEADLINE_S = 60.0
_TRANSIENT_ERRNOS = {
    errno.EAGAIN,
    errno.EINTR,
    errno.EIO,
    errno.EBUSY,
    errno.ETIMEDOUT,
    errno.ESTALE,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
}


def is_transient(e: BaseException) -> bool:
    if isinstance(e, TransientStorageError | ConnectionError | TimeoutError):
        return True
    return isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS


class _Attempts:
    """The attempts at one request: sleeps between them, gives up at the deadline."""

    def __init__(self, storage: RetryingStorage, what: str) -> None:
        self.storage, self.what = storage, what
        self.started = time.monotonic()
        self.count = 0

    def back_off(self, e: Exception, can_retry: bool = True) -> None:
        """Sleep before the next attempt, or raise StorageFailed (from ``e``) when the
        deadline would pass first."""
        s = self.storage
        self.count += 1
        elapsed = time.monotonic() - self.started
        delay = min(s.max_delay_s, s.first_delay_s * 2 ** (self.count - 1)) * random.uniform(0.5, 1.0)
        if not can_retry or elapsed + delay > s.deadline_s:
            raise StorageFailed(
                f"{self.what} in {s.url} failed after {self.count} attempt{'s' if self.count > 1 else ''} "
                f"over {elapsed:.1f}s: {redact(str(e)) or type(e).__name__}"
            ) from e
        s.sleep(delay)


class RetryingStorage:
    def __init__(
        self,
        inner: Storage,
        deadline_s: float = DEFAULT_DEADLINE_S,
        first_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.deadline_s = deadline_s
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep

    def _retry(self, op: str, key: str, fn: Callable[[], T], rewind: Callable[[], None] | None = None) -> T:
        attempts = _Attempts(self, f"{op} of {key or '(nothing)'}")
        while True:
            try:
                return fn()
            except Exception as e:
                if not is_transient(e):
                    raise
                attempts.back_off(e, can_retry=rewind is not None)
                if rewind is not None:
                    rewind()

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        # A retry sends the object again from where it started; a stream that cannot be
        # rewound gets no retry (every caller in Lifeboat hands over a seekable spool).
        rewind = None
        if stream.seekable():
            start = stream.tell()

            def rewind() -> None:
                stream.seek(start)

        return self._retry("upload", key, lambda: self.inner.put(key, stream, meta), rewind)

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self._retry("read", key, lambda: self.inner.get(key, offset, length), _nothing)

    def stat(self, key: str) -> ObjectInfo:
        return self._retry("stat", key, lambda: self.inner.stat(key), _nothing)

    def create(self, key: str, data: bytes) -> bool:
        return self._retry("conditional create", key, lambda: self.inner.create(key, data), _nothing)

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        return self._retry("read", key, lambda: self.inner.read_versioned(key), _nothing)

    def replace(self, key: str, data: bytes, version: str) -> bool:
        return self._retry(
            "conditional replace", key, lambda: self.inner.replace(key, data, version), _nothing
        )

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)  # deleting is idempotent: a retry deletes them all again
        self._retry("delete", keys[0] if keys else "", lambda: self.inner.delete(keys), _nothing)

    def locked_until(self, key: str) -> datetime | None:
        return self._retry("stat", key, lambda: self.inner.locked_until(key), _nothing)

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return self._retry(
            "sweep", "partial writes", lambda: self.inner.sweep_partials(older_than_s, dry_run), _nothing
        )

    def undelete(self, prefix: str) -> tuple[str, ...]:  # idempotent: a marker removed stays removed
        return self._retry("undelete", prefix, lambda: self.inner.undelete(prefix), _nothing)

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        # A listing that fails half-way starts again after the last key it gave (keys come in
        # order), so a long listing is neither cut short nor repeated.
        attempts = _Attempts(self, f"listing of {prefix or '(everything)'}")
        last: str | None = None
        while True:
            try:
                for info in self.inner.list(prefix, with_meta):
                    if last is None or info.key > last:
                        last = info.key
                        yield info
                return
            except Exception as e:
                if not is_transient(e):
                    raise
                attempts.back_off(e)


def _nothing() -> None:
    """Before retrying a request that sends no stream, nothing needs rewinding."""
