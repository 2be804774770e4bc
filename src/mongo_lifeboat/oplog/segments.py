"""Archived oplog segments: immutable objects covering ``start < ts <= end``.

Each segment's sidecar metadata carries its checksum (there is no manifest for the
continuous oplog), the entry count, first/last wall time and ``prev_end``. Two segments
chain when ``next.start == prev.end``; anything else is a gap.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import bson
import zstandard
from bson import Timestamp
from bson.raw_bson import RawBSONDocument

from ..errors import IntegrityError
from ..mongo.codec import CODEC
from ..remedies import Remedy
from ..repo import layout
from ..repo.damage import record_damage
from ..repo.manifest import FileEntry, Manifest
from ..repo.objects import fetch_verified, iter_bson, read_documents
from ..repo.storage import ObjectInfo, ObjectMissing, Storage
from ..timestamps import from_hex16, iso, to_hex16


@dataclass(frozen=True)
class Segment:
    key: str
    start: Timestamp
    end: Timestamp
    entries: int
    size: int
    sha256: str
    first_wall: str
    last_wall: str

    @property
    def file(self) -> FileEntry:
        return FileEntry(key=self.key, size=self.size, sha256=self.sha256, documents=self.entries)


@dataclass(frozen=True)
class GapRecord:
    start: Timestamp  # last archived position before the gap
    end: Timestamp  # the archiver resumed after this position
    detected_at: str


def _wall(ms: int | None) -> str:
    return iso(datetime.fromtimestamp(ms / 1000, UTC)) if ms is not None else ""


def list_segments(
    storage: Storage,
    deployment: str,
    damaged: Collection[str] = (),
    listed: Iterable[ObjectInfo] | None = None,
) -> list[Segment]:
    """The archived segments a reader uses, from one listing (see :func:`pick`)."""
    return pick(all_segments(storage, deployment, listed), damaged)


def pick(segments: Sequence[Segment], damaged: Collection[str] = ()) -> list[Segment]:
    """One segment per stretch of the archive. Compaction (``oplog.compaction``) writes a merged
    segment before it deletes the ones it replaces, so for a while (after a crash, or while an
    original is under Object Lock) a stretch is held twice: the merged segment is taken and what
    it contains is left out — unless it is known ``damaged`` and what it contains still chains
    through its whole span, which is then taken instead. Never both: no entry is read twice."""
    out: list[Segment] = []
    for seg, inner in _containing(segments):
        if inner and seg.key in damaged and chains_through(seg, inner):
            out.extend(pick(inner, damaged))
        else:
            out.append(seg)
    return out


def held_twice(segments: Sequence[Segment]) -> list[tuple[Segment, list[Segment]]]:
    """Each segment that contains others, with them (oldest first)."""
    return [(seg, inner) for seg, inner in _containing(segments) if inner]


def _containing(segments: Sequence[Segment]) -> Iterator[tuple[Segment, list[Segment]]]:
    """Each outermost segment with the segments it contains, in one pass over them sorted by
    start (the longest first among equal starts)."""
    ordered = sorted(segments, key=lambda s: (s.start, -_ord(s.end)))
    i = 0
    while i < len(ordered):
        seg, j = ordered[i], i + 1
        while j < len(ordered) and ordered[j].end <= seg.end:
            j += 1  # starts at or after seg.start and ends inside it
        yield seg, ordered[i + 1 : j]
        i = j


def _ord(ts: Timestamp) -> int:
    return (ts.time << 32) | ts.inc


def chains_through(outer: Segment, inner: Sequence[Segment]) -> bool:
    """Whether ``inner`` (picked as a reader would) covers ``outer``'s span without a break."""
    position = outer.start
    chosen = pick(inner)
    for seg in chosen:
        if seg.start != position:
            return False
        position = seg.end
    return bool(chosen) and position == outer.end


def all_segments(
    storage: Storage, deployment: str, listed: Iterable[ObjectInfo] | None = None
) -> list[Segment]:
    """Every segment object under the deployment, as listed (a stretch may be held twice: see
    :func:`pick`), from one listing (``listed``: the whole repository's, when the caller has
    made one): a segment's name carries its facts. (Segments written before names did keep
    them in metadata: those cost one request each.)"""
    out = []
    prefix = layout.oplog_prefix(deployment)
    for obj in storage.list(prefix) if listed is None else listed:
        if not obj.key.startswith(prefix) or not layout.is_segment_key(obj.key):
            continue
        start, end = layout.parse_span(obj.key)
        facts = layout.segment_facts(obj.key)
        if facts is not None:
            out.append(
                Segment(
                    obj.key,
                    start,
                    end,
                    facts.entries,
                    facts.size,
                    facts.sha256,
                    _wall(facts.first_wall_ms),
                    _wall(facts.last_wall_ms),
                )
            )
            continue
        try:
            meta = storage.stat(obj.key).meta
        except ObjectMissing:
            continue  # deleted while we listed
        out.append(
            Segment(
                key=obj.key,
                start=start,
                end=end,
                entries=int(meta.get("entries", 0)),
                size=int(meta.get("size", obj.size)),
                sha256=meta.get("sha256", ""),  # missing: verify reports the object as bad
                first_wall=meta.get("first_wall", ""),
                last_wall=meta.get("last_wall", ""),
            )
        )
    return sorted(out, key=lambda s: (s.start, s.end))


def list_gaps(storage: Storage, deployment: str) -> list[GapRecord]:
    gaps = []
    for obj in storage.list(layout.oplog_prefix(deployment) + "gaps/"):
        with storage.get(obj.key) as f:
            data = json.loads(f.read())
        gaps.append(
            GapRecord(from_hex16(data["start"]), from_hex16(data["end"]), data.get("detected_at", ""))
        )
    return gaps


def record_gap(storage: Storage, deployment: str, gap: GapRecord) -> None:
    body = {"start": to_hex16(gap.start), "end": to_hex16(gap.end), "detected_at": gap.detected_at}
    storage.put(layout.gap_key(deployment, gap.start, gap.end), io.BytesIO(json.dumps(body).encode()))


def read_state(storage: Storage, deployment: str) -> dict[str, Any] | None:
    try:
        with storage.get(layout.archiver_state_key(deployment)) as f:
            return dict(json.loads(f.read()))
    except (ObjectMissing, ValueError):
        return None


# A local copy of a segment's entries, where one was kept (``segment_spool``), else None.
LocalCopy = Callable[["Segment"], Iterator[list[bytes]] | None]


def no_local_copy(seg: Segment) -> Iterator[list[bytes]] | None:
    return None


# Segments fetched ahead of the one being read (each held spooled: in memory up to 8 MiB, then
# on local disk): on an object store every request costs tens of milliseconds, and a reader one
# segment at a time pays them all in a row.
READ_AHEAD = 8


def iter_raw_entries(
    storage: Storage, segments: Iterable[Segment], local: LocalCopy = no_local_copy
) -> Iterator[bytes]:
    """Raw BSON entries of ``segments`` in order, each object checked before use (from
    ``local`` where it holds a checked copy; else fetched ``READ_AHEAD`` at a time). A damaged
    segment is recorded as such (``repo.damage``): from then on it is a gap in the timeline,
    not an error each command meets again."""
    todo = list(segments)
    ahead = _Ahead(storage, todo) if local is no_local_copy and len(todo) > 1 else None
    try:
        for i, seg in enumerate(todo):
            yield from _entries_of(storage, seg, local(seg) if ahead is None else ahead.batches(i))
    finally:
        if ahead is not None:
            ahead.close()


class _Ahead:
    def __init__(self, storage: Storage, segments: list[Segment]) -> None:
        self._storage, self._segments = storage, segments
        self._pool = ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="lifeboat-read-ahead")
        self._fetched: dict[int, Future[BinaryIO]] = {}
        self._next = 0

    def batches(self, i: int) -> Iterator[list[bytes]]:
        while self._next < len(self._segments) and self._next < i + READ_AHEAD:
            seg = self._segments[self._next]
            self._fetched[self._next] = self._pool.submit(fetch_verified, self._storage, seg.file)
            self._next += 1
        future = self._fetched.pop(i)
        key = self._segments[i].key

        def read() -> Iterator[list[bytes]]:
            stored = future.result()  # its IntegrityError, if any, is met here: in order
            with zstandard.ZstdDecompressor().stream_reader(stored, closefd=True) as stream:
                yield from iter_bson(stream, key)

        return read()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for future in self._fetched.values():
            if future.done() and future.exception() is None:
                future.result().close()


def _entries_of(storage: Storage, seg: Segment, batches: Iterator[list[bytes]] | None) -> Iterator[bytes]:
    try:
        for batch in batches if batches is not None else read_documents(storage, seg.file):
            yield from batch
    except IntegrityError as e:
        record_damage(storage, seg.key, e.message)
        raise IntegrityError(
            e.message,
            "the timeline shows it as a gap from now on; restore to a point before it, or {do}",
            Remedy("repair-from-copy"),
        ) from e


def iter_entries(
    storage: Storage, segments: Iterable[Segment], local: LocalCopy = no_local_copy
) -> Iterator[dict[str, Any]]:
    """Decoded entries of ``segments`` in order, each object checked before use."""
    for raw in iter_raw_entries(storage, segments, local):
        yield bson.decode(raw, codec_options=CODEC)


def backup_oplog_raw(
    storage: Storage,
    manifest: Manifest,
    segments: Iterable[Segment] = (),
    counts: dict[str, int] | None = None,
    local: LocalCopy = no_local_copy,
) -> Iterator[bytes]:
    """A base backup's bracket, then the archived ``segments`` after its ``end_ts``, as one
    stream of raw entries (so a transaction spanning the two is seen whole). Every object is
    checked before use and the bracket's entry count against the manifest; ``counts``
    receives ``bracket`` and ``more``."""
    counts = counts if counts is not None else {}
    counts.update(bracket=0, more=0)
    bracket = manifest.oplog
    for batch in read_documents(storage, bracket.file):
        counts["bracket"] += len(batch)
        yield from batch
    if counts["bracket"] != bracket.entries:
        raise IntegrityError(
            f"{bracket.file.key} holds {counts['bracket']} entries; the manifest says {bracket.entries}"
        )
    end = manifest.end
    for raw in iter_raw_entries(storage, segments, local):
        if entry_ts(raw) > end:
            counts["more"] += 1
            yield raw


def backup_oplog(
    storage: Storage,
    manifest: Manifest,
    segments: Iterable[Segment] = (),
    counts: dict[str, int] | None = None,
    local: LocalCopy = no_local_copy,
) -> Iterator[dict[str, Any]]:
    """:func:`backup_oplog_raw`, decoded."""
    for raw in backup_oplog_raw(storage, manifest, segments, counts, local):
        yield bson.decode(raw, codec_options=CODEC)


def entry_ts(raw: bytes) -> Timestamp:
    """An oplog entry's ``ts`` without decoding the rest of it."""
    ts = RawBSONDocument(raw)["ts"]
    assert isinstance(ts, Timestamp)
    return ts
