"""Bringing a repository's oplog archive up to date from the others.

``lifeboat copy`` seeds a repository with it; the archiver uses it for a repository of the
plan that was down (``repo.mirror``): at start, and every little while until it is back.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import IntegrityError
from ...repo import layout
from ...repo.mirror import MEMBER_FAILURES, Member, MirrorStorage
from ...repo.objects import fetch_verified
from ...repo.storage import Storage
from ..segments import Segment, list_segments


@dataclass
class ArchiveCopy:
    segments: int = 0
    gaps: int = 0
    bytes: int = 0


def copy_archive(src: Storage, dst: Storage, deployment: str, dry_run: bool = False) -> ArchiveCopy:
    """The segments and gap records of ``deployment`` that ``dst`` lacks, oldest first (so its
    archive only ever grows at its end), each verified as it is read."""
    done = ArchiveCopy()
    held = list_segments(dst, deployment)
    have, starts = {s.key for s in held}, [s.start for s in held]
    for seg in list_segments(src, deployment):
        if seg.key in have or _within(seg, held, starts):  # (held there merged: see oplog.compaction)
            continue
        done.segments += 1
        done.bytes += seg.size
        if not dry_run:
            meta = src.stat(seg.key).meta
            dst.put(seg.key, fetch_verified(src, seg.file), meta)
    gaps_prefix = layout.oplog_prefix(deployment) + "gaps/"
    have_gaps = {o.key for o in dst.list(gaps_prefix)}
    for obj in src.list(gaps_prefix):
        if obj.key not in have_gaps:
            done.gaps += 1
            if not dry_run:
                with src.get(obj.key) as f:
                    dst.put(obj.key, io.BytesIO(f.read()))
    return done


def _within(seg: Segment, held: list[Segment], starts: list[Any]) -> bool:
    """Whether one of ``held`` (sorted by start, not overlapping; ``starts``: theirs) spans ``seg``."""
    i = bisect.bisect_right(starts, seg.start) - 1
    return i >= 0 and held[i].start <= seg.start and seg.end <= held[i].end


def catch_up(mirror: MirrorStorage, member: Member, deployment: str) -> ArchiveCopy:
    """Copy to ``member`` what the other repositories have and it lacks, read through their
    checksums; raises (leaving it as it was, plus whatever was copied) when it fails."""
    if member.reopen is not None:  # it could not be opened at start: open it first
        member.storage = member.reopen()
        member.reopen = None
    others = MirrorStorage([m for m in mirror.members if m is not member and m.down is None])
    others.listeners = mirror.listeners
    return copy_archive(others, member.storage, deployment)


def catch_up_members(
    mirror: MirrorStorage | None, deployment: str, everyone: bool
) -> Iterator[tuple[str, int]]:
    """Several repositories: bring one that missed segments (it was down, or the archiver died
    between two of them) up to date from the others. ``everyone`` at start; later only those
    that are down. One that still fails stays down. Yields (name, segments copied) of each one
    that was down or lacked segments and is now caught up."""
    if mirror is None:
        return
    for member in mirror.members:
        if not everyone and member.down is None:
            continue
        if not any(m is not member and m.down is None for m in mirror.members):
            continue  # nobody to copy from
        try:
            copied = catch_up(mirror, member, deployment)
        except (*MEMBER_FAILURES, IntegrityError) as e:
            if member.down is None:
                mirror.mark_down(member, "catching up", e)
            continue
        if member.down is not None or copied.segments:
            mirror.revive(member, f"caught up with {copied.segments} segments")
            yield member.name, copied.segments
