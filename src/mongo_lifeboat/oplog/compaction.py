"""Compaction: archived segments merged into larger ones as they age (levels).

The archiver commits a segment a second under load: that is the RPO. Kept as they are, a year
is 31 million objects, and every listing and every restore pays for each one. So, as segments
age, the segments whose end falls in one window of a level (a minute, then an hour: UTC
aligned) are merged into one segment holding exactly their entries, byte for byte.

Crash safety, step by step (``faults`` names each point):

1. the proof is written: each source's key, span, entry count and sha256 (``merges/``);
2. the merged segment is written (one atomic put; its name carries its facts, as every
   segment's does) — from here readers take it, and leave out what it contains
   (``segments.pick``), so no entry is ever counted twice;
3. it is read back whole (checksum and entry count);
4. only then are the sources deleted (one under Object Lock stays until it may go) — and not
   before ``grace_s`` has passed since the merge: a restore, drill or undo that listed the
   archive before the merge goes on reading the sources it chose (a later run deletes them).

Killed anywhere, either the sources or the merged segment is complete. The next run settles
what it finds: a merged segment that reads back lets the segments it contains go; one that
does not, while they still chain through its span, is removed instead (the merge is redone).

Runs under the deployment's ``prune`` lease (prune and compaction never both delete), beside a
running archiver (it only appends after the newest segment; compaction leaves that one alone).
Each repository is compacted on its own (``lifeboat compact`` walks the plan's repositories):
a mirror's copy is merged by the same rule, never by deleting through another copy.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson.raw_bson import RawBSONDocument

from ..errors import IntegrityError
from ..events import Reporter, Update, silent
from ..faults import crash_point
from ..repo import layout
from ..repo.damage import record_damage
from ..repo.lease import Lease, Renewer
from ..repo.objects import ObjectWriter, read_documents
from ..repo.repository import Repository
from ..repo.storage import ObjectMissing, Storage
from ..timestamps import iso, to_hex16, to_str
from .segments import (
    READ_AHEAD,
    Segment,
    all_segments,
    chains_through,
    entry_ts,
    held_twice,
    iter_raw_entries,
    pick,
)


@dataclass(frozen=True)
class Level:
    """Segments whose window is wholly older than ``after_s`` are merged, one per ``span_s``."""

    after_s: float
    span_s: int


# From bench/bench_archive_age.py: per-second segments cost a request each to list and to read;
# a minute's worth after an hour and an hour's after a day leave a year at ~10,000 objects (ten
# listing requests) while the last hour keeps its one-second objects (nothing to redo there).
DEFAULT_LEVELS = (Level(3600.0, 60), Level(86400.0, 3600))
MAX_MERGED_BYTES = 256 << 20  # a run longer than this (stored) is cut: objects stay easy to move


def levels_of(minutes_after_s: float | None, hours_after_s: float | None) -> list[Level]:
    """The plan's ``[archiver]`` settings as levels (None: that level is off)."""
    pairs = ((minutes_after_s, 60), (hours_after_s, 3600))
    return [Level(after, span) for after, span in pairs if after is not None]


@dataclass
class CompactionReport:
    deployment: str
    dry_run: bool
    segments_before: int = 0
    segments_after: int = 0
    merged: int = 0  # merged segments written (or, dry run, that would be)
    replaced: int = 0  # source segments they replace
    deleted: int = 0  # objects deleted (sources, proofs of merged sources, undone merges)
    undone: list[str] = field(default_factory=list)  # merged segments that failed their read-back
    locked: list[dict[str, str]] = field(default_factory=list)  # sources left under Object Lock


def compact(
    repo: Repository,
    deployment: str,
    levels: Sequence[Level] = DEFAULT_LEVELS,
    dry_run: bool = False,
    now: datetime | None = None,
    report: Reporter = silent,
    grace_s: float = 0.0,
) -> CompactionReport:
    """Merge ``deployment``'s aged segments in ``repo`` by ``levels`` (coarsest that applies
    first, so an old archive is merged once, not once per level). A merge's sources are deleted
    once ``grace_s`` has passed since it (0: in the same run)."""
    storage = repo.storage
    out = CompactionReport(deployment, dry_run)
    moment = (now or datetime.now(UTC)).timestamp()

    def work() -> None:
        listed = all_segments(storage, deployment)
        out.segments_before = len(pick(listed))
        if not dry_run:
            listed = _settle(storage, deployment, listed, out, moment - grace_s)
        segments = pick(listed)
        newest = max((s.end for s in segments), default=None)
        for level in sorted(levels, key=lambda lv: -lv.after_s):
            runs = _runs(storage, segments, level, moment, newest)
            for run in runs:
                out.merged += 1
                out.replaced += len(run)
                if dry_run:
                    continue
                _merge(storage, deployment, run, out, moment, delete_sources=grace_s <= 0)
                report(
                    Update(
                        "compact",
                        "progress",
                        "merged",
                        done=out.replaced,
                        facts={
                            "start": to_str(run[0].start),
                            "end": to_str(run[-1].end),
                            "sources": len(run),
                        },
                    )
                )
            segments = _after(segments, runs)
        out.segments_after = len(segments)

    if dry_run:
        work()
    else:
        with Renewer(Lease(storage, deployment, "prune", 300.0)):
            work()
    return out


def _after(segments: list[Segment], runs: list[list[Segment]]) -> list[Segment]:
    """The picked segments once ``runs`` are merged (a stand-in per run: its span and totals)."""
    merged = {run[0].key: run for run in runs}
    gone = {s.key for run in runs for s in run}
    out = []
    for seg in segments:
        if seg.key in merged:
            run = merged[seg.key]
            out.append(_stand_in(run))
        elif seg.key not in gone:
            out.append(seg)
    return out


def _stand_in(run: list[Segment]) -> Segment:
    return Segment(
        key=f"(merge of {len(run)})",
        start=run[0].start,
        end=run[-1].end,
        entries=sum(s.entries for s in run),
        size=sum(s.size for s in run),
        sha256="",
        first_wall=run[0].first_wall,
        last_wall=run[-1].last_wall,
    )


def _runs(
    storage: Storage, segments: list[Segment], level: Level, now: float, newest: Any
) -> list[list[Segment]]:
    """Chained runs of two or more segments whose ends fall in one window of ``level`` wholly
    older than its age, of one capture, cut at ``MAX_MERGED_BYTES``. The newest segment is
    never taken (the archiver resumes from it)."""

    def window(seg: Segment) -> int | None:
        w = seg.end.time // level.span_s
        old_enough = (w + 1) * level.span_s <= now - level.after_s
        return w if old_enough and seg.end != newest and not seg.key.startswith("(") else None

    candidates = [s for s in segments if window(s) is not None]
    captures = _captures(storage, candidates)
    runs: list[list[Segment]] = []
    current: list[Segment] = []
    for seg in segments:
        w = window(seg)
        if current and (
            w != window(current[-1])
            or seg.start != current[-1].end
            or sum(s.size for s in current) + seg.size > MAX_MERGED_BYTES
            or captures.get(seg.key) != captures.get(current[0].key)
        ):
            if len(current) > 1:
                runs.append(current)
            current = []
        if w is not None:
            current.append(seg)
    if len(current) > 1:
        runs.append(current)
    return runs


_CAPTURES: dict[str, str] = {}  # segments never change: asked once per process


def _captures(storage: Storage, segments: list[Segment]) -> dict[str, str]:
    """Which source each segment's entries were read from (a merge never mixes two: the chain
    proofs treat them differently), asked several at a time (a request each on an object store)."""
    todo = [s.key for s in segments if s.key not in _CAPTURES]
    with ThreadPoolExecutor(max_workers=READ_AHEAD, thread_name_prefix="lifeboat-compact") as pool:
        for key, meta in zip(todo, pool.map(lambda k: storage.stat(k).meta, todo), strict=True):
            _CAPTURES[key] = meta.get("capture", "oplog")
    return {s.key: _CAPTURES[s.key] for s in segments}


def _merge(
    storage: Storage,
    deployment: str,
    run: list[Segment],
    out: CompactionReport,
    moment: float,
    delete_sources: bool,
) -> None:
    start, end = run[0].start, run[-1].end
    capture = _captures(storage, run[:1])[run[0].key]
    proof = {
        "merged_at": moment,  # the sources stay until the grace after it has passed
        "start": to_hex16(start),
        "end": to_hex16(end),
        "entries": sum(s.entries for s in run),
        "capture": capture,
        "sources": [
            {
                "key": s.key,
                "start": to_hex16(s.start),
                "end": to_hex16(s.end),
                "entries": s.entries,
                "size": s.size,
                "sha256": s.sha256,
            }
            for s in run
        ],
    }
    storage.put(layout.merge_proof_key(deployment, start, end), io.BytesIO(json.dumps(proof).encode()))
    crash_point("compact-proof-written")
    writer = ObjectWriter(storage, "")
    first = last = None  # entries whose wall times the merged segment's name carries
    previous = start
    try:
        for raw in iter_raw_entries(storage, run):
            ts = entry_ts(raw)
            if not previous < ts <= end and not (ts == previous and writer.documents):
                raise IntegrityError(
                    f"an entry at {to_str(ts)} is out of order in the segments {start}..{end}"
                )
            previous = ts
            first, last = first or raw, raw
            writer.write(raw, 1)
    except BaseException:
        writer.abandon()
        raise
    if writer.documents != proof["entries"]:
        writer.abandon()
        raise IntegrityError(
            f"segments {to_str(start)}..{to_str(end)} hold {writer.documents} entries, not {proof['entries']}"
        )

    walls = [_wall_ms(first), _wall_ms(last)]

    def name(sha256: str, size: int) -> str:
        facts = layout.SegmentFacts(writer.documents, size, sha256, walls[0], walls[1])
        return layout.segment_key(deployment, start, end, facts)

    entry = writer.commit(
        name=name,
        meta={
            "capture": capture,
            "prev_end": to_str(start),
            "entries": str(writer.documents),
            "first_wall": _iso_ms(walls[0]),
            "last_wall": _iso_ms(walls[1]),
            "merged_from": str(len(run)),
        },
    )
    crash_point("compact-merged-written")
    merged = Segment(entry.key, start, end, writer.documents, entry.size, entry.sha256, "", "")
    if _reads_back(storage, merged) is not None:
        storage.delete([merged.key])  # the sources are untouched: the merge is simply not made
        raise IntegrityError(f"the merged segment {merged.key} did not read back; its sources are kept")
    crash_point("compact-merged-read-back")
    if delete_sources:
        _delete_sources(storage, deployment, run, out)


def _wall_ms(raw: bytes | None) -> int | None:
    wall = RawBSONDocument(raw).get("wall") if raw is not None else None
    if not isinstance(wall, datetime):
        return None
    return int(wall.replace(tzinfo=wall.tzinfo or UTC).timestamp() * 1000)


def _iso_ms(ms: int | None) -> str:
    return iso(datetime.fromtimestamp(ms / 1000, UTC)) if ms is not None else ""


def _reads_back(storage: Storage, seg: Segment) -> str | None:
    """Why ``seg`` does not read back whole (checksum, entry count); None when it does."""
    try:
        count = sum(len(batch) for batch in read_documents(storage, seg.file))
    except (IntegrityError, ObjectMissing) as e:
        return getattr(e, "message", None) or str(e)
    return None if count == seg.entries else f"it holds {count} entries, not {seg.entries}"


def _free_of_lock(storage: Storage, segs: Sequence[Segment]) -> tuple[list[Segment], list[dict[str, str]]]:
    """Which of ``segs`` (oldest first) Object Lock lets go now, and until when the others stay.
    Locks end in the order objects were written: the oldest locked means all are, the newest
    free means all are; only in between is each one asked (a request each on an object store)."""
    oldest = storage.locked_until(segs[0].key)
    if oldest is not None:
        later = f"{oldest.isoformat(timespec='seconds')} or later"
        return [], [{"segment": s.key, "until": later} for s in segs]
    if len(segs) == 1 or storage.locked_until(segs[-1].key) is None:
        return list(segs), []
    free, locked = [segs[0]], []
    for seg in segs[1:]:
        until = storage.locked_until(seg.key)
        if until is None:
            free.append(seg)
        else:
            locked.append({"segment": seg.key, "until": until.isoformat(timespec="seconds")})
    return free, locked


def _delete_sources(
    storage: Storage, deployment: str, sources: Sequence[Segment], out: CompactionReport
) -> None:
    """The sources Object Lock lets go, with the proofs of those that were merges themselves; a
    locked one stays for a later run (readers take the merged segment meanwhile)."""
    free, locked = _free_of_lock(storage, sources)
    out.locked.extend(locked)
    _delete(storage, deployment, free, out)


def _delete(storage: Storage, deployment: str, free: Sequence[Segment], out: CompactionReport) -> None:
    if not free:
        return

    def keys(segs: Sequence[Segment]) -> list[str]:
        return [k for seg in segs for k in (seg.key, layout.merge_proof_key(deployment, seg.start, seg.end))]

    # The first alone, then the rest in one batch: a batch that lands in part leaves the same
    # state as a crash here, and both must read right.
    storage.delete(keys(free[:1]))
    crash_point("compact-source-deleted")
    storage.delete(keys(free[1:]))
    out.deleted += len(free)


def _merged_at(storage: Storage, deployment: str, merged: Segment) -> float | None:
    """When ``merged`` was made, from its proof (None: a proof from before the grace, or none)."""
    try:
        with storage.get(layout.merge_proof_key(deployment, merged.start, merged.end)) as f:
            at = json.loads(f.read()).get("merged_at")
    except (ObjectMissing, ValueError):
        return None
    return float(at) if isinstance(at, int | float) else None


def _settle(
    storage: Storage, deployment: str, listed: list[Segment], out: CompactionReport, merged_before: float
) -> list[Segment]:
    """Finish what an earlier run left: for each segment that contains others and was merged
    before ``merged_before`` (its grace over), either it reads back (its contained segments go)
    or, while they chain through its span, it goes. Returns the listing as it then is."""
    settled = False
    for outer, inner in held_twice(listed):
        at = _merged_at(storage, deployment, outer)
        if at is not None and at > merged_before:
            continue  # young: readers that listed before the merge may still read its sources
        free, locked = _free_of_lock(storage, inner)
        out.locked.extend(locked)
        if not free:  # all under Object Lock: nothing to do (nor to read) until they may go
            continue
        settled = True
        why = _reads_back(storage, outer)
        if why is None:
            _delete(storage, deployment, free, out)
        elif chains_through(outer, inner):
            storage.delete([outer.key, layout.merge_proof_key(deployment, outer.start, outer.end)])
            out.deleted += 1
            out.undone.append(outer.key)
        else:
            record_damage(storage, outer.key, why)  # what it replaced is gone: repair from a copy
    return all_segments(storage, deployment) if settled else listed
