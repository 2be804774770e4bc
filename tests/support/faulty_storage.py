"""A storage wrapper that misbehaves on purpose, the way networks and object stores do.

Put under ``RetryingStorage`` (as every repository's storage is), it shows that Lifeboat's
results do not depend on every request succeeding the first time: a share of requests fails
transiently (before or after the inner call did its work, as a timed-out request whose
effect landed does), each request gets added latency, one request is very slow, and an
outage can be switched on and off.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, TypeVar

from mongo_lifeboat.repo.storage import ObjectInfo, Storage, TransientStorageError

T = TypeVar("T")


class FaultyStorage:
    def __init__(
        self,
        inner: Storage,
        fail_rate: float = 0.0,
        latency_s: float = 0.0,
        slow_request: int | None = None,  # the n-th request (from 1) takes slow_s longer
        slow_s: float = 0.0,
        outage_after: int | None = None,  # from this request on, nothing gets through
        seed: int = 0,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.fail_rate = fail_rate
        self.latency_s = latency_s
        self.slow_request, self.slow_s = slow_request, slow_s
        self.outage = False  # every request fails (transiently) while set
        self.outage_after = outage_after
        self.outage_began: float | None = None  # monotonic time of the first request refused
        self.requests = 0
        self.failures = 0
        self.gets: Counter[str] = Counter()  # reads per key (how often each object is fetched)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def _request(self, op: str, fn: Callable[[], T]) -> T:
        with self._lock:
            self.requests += 1
            n = self.requests
            roll = self._random.random()
            after = self._random.random() < 0.5
        if self.latency_s:
            time.sleep(self.latency_s)  # the added latency under test, not a race being hidden
        if n == self.slow_request:
            time.sleep(self.slow_s)
        if self.outage_after is not None and n >= self.outage_after:
            self.outage = True
        if self.outage and self.outage_began is None:
            self.outage_began = time.monotonic()
        failing = self.outage or roll < self.fail_rate
        if failing and (self.outage or not after):  # an outage: nothing gets through
            self._fail(op)
        result = fn()
        if failing:  # the request did its work, but its answer was lost
            self._fail(op)
        return result

    def _fail(self, op: str) -> None:
        with self._lock:
            self.failures += 1
        raise TransientStorageError(f"injected fault: {op} timed out")

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        return self._request("put", lambda: self.inner.put(key, stream, meta))

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        with self._lock:
            self.gets[key] += 1
        return self._request("get", lambda: self.inner.get(key, offset, length))

    def stat(self, key: str) -> ObjectInfo:
        return self._request("stat", lambda: self.inner.stat(key))

    def create(self, key: str, data: bytes) -> bool:
        return self._request("create", lambda: self.inner.create(key, data))

    def replace(self, key: str, data: bytes, version: str) -> bool:
        return self._request("replace", lambda: self.inner.replace(key, data, version))

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        return self._request("read", lambda: self.inner.read_versioned(key))

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._request("delete", lambda: self.inner.delete(keys))

    def locked_until(self, key: str) -> datetime | None:
        return self._request("stat", lambda: self.inner.locked_until(key))

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return self._request("sweep", lambda: self.inner.sweep_partials(older_than_s, dry_run))

    def undelete(self, prefix: str) -> tuple[str, ...]:
        return self._request("undelete", lambda: self.inner.undelete(prefix))

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        items = iter(self._request("list", lambda: self.inner.list(prefix, with_meta)))
        for i, info in enumerate(items):
            if i and i % 50 == 0:  # long listings also break half-way
                self._request("list (next page)", lambda: None)
            yield info
