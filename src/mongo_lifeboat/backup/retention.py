"""Retention: which base backups and oplog segments a policy keeps (a pure function; no I/O).

A policy promises restore points: the newest ``keep_last`` base backups, the newest one of
each of the last ``keep_daily`` days and ``keep_weekly`` ISO weeks that have backups (each
restorable at its own point), and every second of the last ``recovery_window`` that is
restorable now. Everything those promises need is kept — for the recovery window, the base
backup at or before its start in each restorable window and every segment after that base —
and so is the archive after the newest base backup (the archiver goes on from it).
Nothing else is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bson import Timestamp

from ..catalog.snapshots import SnapshotManifest
from ..catalog.timeline import build_timeline
from ..oplog.segments import Segment
from ..repo.manifest import Manifest

T = TypeVar("T", Manifest, SnapshotManifest)


@dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    recovery_window_s: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.keep_last or self.keep_daily or self.keep_weekly or self.recovery_window_s)


@dataclass
class PrunePlan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # backup id -> why it is kept
    delete: list[str] = field(default_factory=list)  # backup ids, oldest first
    keep_segments: list[Segment] = field(default_factory=list)
    delete_segments: list[Segment] = field(default_factory=list)  # oldest first
    # The restorable ranges (start, end] the recovery window promises.
    promised: list[tuple[Timestamp, Timestamp]] = field(default_factory=list)
    keep_snapshots: dict[str, list[str]] = field(default_factory=dict)  # snapshot id -> why
    delete_snapshots: list[str] = field(default_factory=list)  # oldest first


def _day(m: Manifest | SnapshotManifest) -> str:
    return datetime.fromtimestamp(m.end.time, UTC).strftime("%Y-%m-%d")


def _week(m: Manifest | SnapshotManifest) -> str:
    year, week, _ = datetime.fromtimestamp(m.end.time, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _keep_points(bases: list[T], policy: Policy, keep: Callable[[T, str], None]) -> None:
    """keep_last, keep_daily and keep_weekly over ``bases`` (newest first)."""
    for b in bases[: policy.keep_last]:
        keep(b, "last")
    for rule, period, count in (("daily", _day, policy.keep_daily), ("weekly", _week, policy.keep_weekly)):
        seen: set[str] = set()
        for b in bases:
            if len(seen) >= count:
                break
            if period(b) not in seen:
                seen.add(period(b))
                keep(b, rule)


def plan_prune(
    manifests: list[Manifest],
    segments: list[Segment],
    policy: Policy,
    now: datetime,
    snapshots: Sequence[SnapshotManifest] = (),
) -> PrunePlan:
    """Snapshots are counted by the same keep_last/daily/weekly among themselves; each kept
    one keeps the archive that proves its data and reaches its consistent point, and the
    archive after the newest base of either kind stays (the archiver goes on from it)."""
    plan = PrunePlan()
    newest_first = sorted(manifests, key=lambda m: (m.end, m.backup_id), reverse=True)

    def keep(m: Manifest, why: str) -> None:
        plan.keep.setdefault(m.backup_id, []).append(why)

    _keep_points(newest_first, policy, keep)

    needed: set[str] = set()  # segment keys
    timeline = build_timeline(manifests, segments)
    since = Timestamp(max(int(now.timestamp() - policy.recovery_window_s), 0), 0)
    pitr_bases = [m for m in manifests if m.point_in_time_base]
    if policy.recovery_window_s > 0:
        for window in timeline.windows:
            if window.end <= since:
                continue
            start = max(window.start, since)
            base = max((m for m in pitr_bases if window.start <= m.end <= start), key=lambda m: m.end)
            keep(base, "recovery window")
            plan.promised.append((start, window.end))
            needed.update(s.key for s in segments if s.end > base.end and s.start < window.end)
    if pitr_bases:  # the archiver goes on from the archive after the newest base backup
        newest = max(m.end for m in pitr_bases)
        needed.update(s.key for s in segments if s.end > newest)

    def keep_snapshot(snap: SnapshotManifest, why: str) -> None:
        plan.keep_snapshots.setdefault(snap.snapshot_id, []).append(why)

    _keep_points(sorted(snapshots, key=lambda m: (m.end, m.snapshot_id), reverse=True), policy, keep_snapshot)
    kept_snapshots = [m for m in snapshots if m.snapshot_id in plan.keep_snapshots]
    for snap in kept_snapshots:
        needed.update(s.key for s in segments if s.end >= snap.start and s.start <= snap.end)
    if kept_snapshots:  # and the archive after the newest, to roll it forward
        newest_snap = max(kept_snapshots, key=lambda m: m.end)
        needed.update(s.key for s in segments if s.end >= newest_snap.start)
    plan.delete_snapshots = [
        m.snapshot_id
        for m in sorted(snapshots, key=lambda m: m.end)
        if m.snapshot_id not in plan.keep_snapshots
    ]
    for m in sorted(manifests, key=lambda m: (m.end, m.backup_id)):
        if m.backup_id not in plan.keep:
            plan.delete.append(m.backup_id)
    for s in segments:
        (plan.keep_segments if s.key in needed else plan.delete_segments).append(s)
    return plan
