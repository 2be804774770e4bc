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

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson import Timestamp

from ..oplog.segments import Segment
from ..oplog.timeline import build_timeline
from ..repo.manifest import Manifest


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


def _day(m: Manifest) -> str:
    return datetime.fromtimestamp(m.end.time, UTC).strftime("%Y-%m-%d")


def _week(m: Manifest) -> str:
    year, week, _ = datetime.fromtimestamp(m.end.time, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def plan_prune(
    manifests: list[Manifest], segments: list[Segment], policy: Policy, now: datetime
) -> PrunePlan:
    plan = PrunePlan()
    newest_first = sorted(manifests, key=lambda m: (m.end, m.backup_id), reverse=True)

    def keep(m: Manifest, why: str) -> None:
        plan.keep.setdefault(m.backup_id, []).append(why)

    for m in newest_first[: policy.keep_last]:
        keep(m, "last")
    for rule, period, count in (("daily", _day, policy.keep_daily), ("weekly", _week, policy.keep_weekly)):
        seen: set[str] = set()
        for m in newest_first:
            if len(seen) >= count:
                break
            if period(m) not in seen:
                seen.add(period(m))
                keep(m, rule)

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
    for m in sorted(manifests, key=lambda m: (m.end, m.backup_id)):
        if m.backup_id not in plan.keep:
            plan.delete.append(m.backup_id)
    for s in segments:
        (plan.keep_segments if s.key in needed else plan.delete_segments).append(s)
    return plan
