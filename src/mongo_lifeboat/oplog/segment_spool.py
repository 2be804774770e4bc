"""The archived segments a point-in-time restore needs, fetched once.

A restore must prove every segment it will replay before it writes anything (a damaged one is
refused up front, never met half-way through). It used to prove them in one pass and read them
again, one request at a time, to replay: twice the requests, the second pass serial. Here each
segment is fetched once, several requests in flight, checked as it arrives (size and sha256,
then every entry parsed and counted), and kept in one local temporary file, so the replay
reads local bytes. The file is bounded (``budget_bytes``): segments past it are checked and
dropped, then fetched again when replayed (the restore still works with little disk; it only
costs the requests again). Kept bytes are checked again when read back: every read is checked.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

import zstandard

from .. import interrupts
from ..errors import IntegrityError
from ..repo.integrity import count_parsed
from ..repo.objects import fetch_verified, iter_bson
from ..repo.storage import Storage
from .segments import Segment

DEFAULT_BUDGET_BYTES = 8 << 30  # compressed: months of a busy archive's segments


@dataclass
class SpoolReport:
    fetched: int = 0  # segments read from the repository (one request each, or its ranges)
    kept: int = 0  # of them, kept on local disk for the replay
    bytes: int = 0
    entries: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)


def _entries(data: bytes, seg: Segment) -> int:
    """Every entry of a segment's (verified) stored bytes parsed; their number."""
    stream = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    return count_parsed(iter_bson(stream, seg.key), seg.file)


class SegmentSpool:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget = budget_bytes
        self.report = SpoolReport()
        self._file = tempfile.TemporaryFile(prefix="lifeboat-segments-")  # noqa: SIM115 (closed by close())
        self._kept: dict[str, tuple[int, int, str]] = {}  # key -> offset, length, sha256
        self.checked: set[str] = set()  # fetched and found intact (kept or not)
        self._end = 0

    def fetch(self, storage: Storage, segments: Iterable[Segment], jobs: int = 4) -> SpoolReport:
        """Fetch, check and keep ``segments``, ``jobs`` requests in flight (a sliding window:
        at most twice that many segments are held in memory at once)."""
        todo = list(segments)
        window = max(1, jobs) * 2
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="lifeboat-fetch") as pool:
            pending: list[tuple[Segment, Future[bytes]]] = []
            for seg in todo:
                pending.append((seg, pool.submit(self._fetch_one, storage, seg)))
                if len(pending) >= window:
                    self._take(*pending.pop(0))
            for seg, future in pending:
                self._take(seg, future)
        return self.report

    @staticmethod
    def _fetch_one(storage: Storage, seg: Segment) -> bytes:
        interrupts.check()
        with fetch_verified(storage, seg.file) as stored:
            data = stored.read()
        _entries(data, seg)
        return data

    def _take(self, seg: Segment, future: Future[bytes]) -> None:
        try:
            data = future.result()
        except IntegrityError as e:
            self.report.problems.append({"object": seg.key, "problem": e.message})
            return
        self.report.fetched += 1
        self.checked.add(seg.key)
        self.report.bytes += len(data)
        self.report.entries += seg.entries
        if self._end + len(data) > self.budget:
            return  # checked; fetched again when replayed
        os.pwrite(self._file.fileno(), data, self._end)
        self._kept[seg.key] = (self._end, len(data), hashlib.sha256(data).hexdigest())
        self._end += len(data)
        self.report.kept += 1

    def batches(self, seg: Segment) -> Iterator[list[bytes]] | None:
        """``seg``'s entries in batches from the local copy; None when it was not kept."""
        kept = self._kept.get(seg.key)
        if kept is None:
            return None
        offset, length, digest = kept
        data = os.pread(self._file.fileno(), length, offset)
        if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"the local copy of {seg.key} changed on disk since it was checked")
        stream = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        return iter_bson(stream, seg.key)

    def close(self) -> None:
        self._file.close()
        self._kept.clear()

    def __enter__(self) -> SegmentSpool:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()
