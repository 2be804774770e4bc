"""Archived oplog segments: immutable objects covering ``start < ts <= end``.

Each segment's sidecar metadata carries its checksum (there is no manifest for the
continuous oplog), the entry count, first/last wall time and ``prev_end``. Two segments
chain when ``next.start == prev.end``; anything else is a gap.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bson
from bson import Timestamp
from bson.raw_bson import RawBSONDocument

from ..errors import IntegrityError
from ..mongo.codec import CODEC
from ..remedies import Remedy
from ..repo import layout
from ..repo.damage import record_damage
from ..repo.manifest import FileEntry, Manifest
from ..repo.objects import read_documents
from ..repo.storage import ObjectMissing, Storage
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


def list_segments(storage: Storage, deployment: str) -> list[Segment]:
    """Every archived segment, from one listing: a segment's name carries its facts. (Segments
    written before names did keep them in metadata: those cost one request each.)"""
    out = []
    for obj in storage.list(layout.oplog_prefix(deployment)):
        if not layout.is_segment_key(obj.key):
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


def iter_raw_entries(
    storage: Storage, segments: Iterable[Segment], local: LocalCopy = no_local_copy
) -> Iterator[bytes]:
    """Raw BSON entries of ``segments`` in order, each object checked before use (from
    ``local`` where it holds a checked copy). A damaged segment is recorded as such
    (``repo.damage``): from then on it is a gap in the timeline, not an error each command
    meets again."""
    for seg in segments:
        try:
            batches = local(seg)
            for batch in batches if batches is not None else read_documents(storage, seg.file):
                yield from batch
        except IntegrityError as e:
            record_damage(storage, seg.key, e.message)
            raise IntegrityError(
                e.message,
                "the timeline shows it as a gap from now on; restore to a point before it, or {do}",
                Remedy("repair-from-copy"),
            ) from e


def iter_entries(storage: Storage, segments: Iterable[Segment]) -> Iterator[dict[str, Any]]:
    """Decoded entries of ``segments`` in order, each object checked before use."""
    for raw in iter_raw_entries(storage, segments):
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
