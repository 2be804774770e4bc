"""Point-in-time restore planning: which base backup, which segments, where to stop."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bson import Timestamp

from ..catalog.history import load_history
from ..catalog.points import Point, resolve
from ..catalog.timeline import Timeline
from ..errors import NotRestorable, UsageError
from ..mongo.nsmap import NamespaceMap
from ..oplog.segments import Segment
from ..remedies import Remedy
from ..repo.manifest import Manifest
from ..repo.repository import Repository
from ..timestamps import just_after, to_str, wall_of
from .plan import RestorePlan, plan_restore


@dataclass(frozen=True)
class PitrPlan:
    base: RestorePlan
    stop_before: Timestamp  # exclusive: entries with ts >= stop_before are not applied
    segments: list[Segment]
    # A volume snapshot that is a closer base than the logical backup (less oplog to replay).
    closer_snapshot: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            **self.base.describe(),
            "restore_to": to_str(self.stop_before),
            "restore_to_wall": wall_of(self.stop_before),
            "base_backup": self.base.manifest.backup_id,
            "segments": len(self.segments),
            "segment_bytes": sum(s.size for s in self.segments),
            "segment_entries_at_most": sum(s.entries for s in self.segments),
        }


def plan_pitr(
    manifests: list[Manifest],
    timeline: Timeline,
    segments: list[Segment],
    stop_before: Timestamp,
    nsmap: NamespaceMap,
    with_users: bool = False,
) -> PitrPlan:
    window = timeline.window_for(stop_before)
    if window is None and any(w.start == stop_before for w in timeline.windows):
        # A window's own start, as the error below shows it: the base backup's consistent
        # point, which includes the entry at that position.
        stop_before = just_after(stop_before)
        window = timeline.window_for(stop_before)
    if window is None:
        raise NotRestorable(
            f"{to_str(stop_before)} ({wall_of(stop_before)}) is not restorable; {_windows(timeline)}"
        )
    candidates = [
        m for m in manifests if m.backup_id in window.backups and m.end < stop_before and m.point_in_time_base
    ]
    if not candidates:
        snapshots = [b for b in window.backups if b.startswith("snapshot:")]
        if snapshots:  # the base is a volume snapshot: its data must be brought back first
            raise NotRestorable(
                f"the base before {to_str(stop_before)} is {snapshots[-1]}, a volume snapshot: a member must "
                "first run on its data",
                remedy=Remedy("restore-on-snapshot", {"to": to_str(stop_before), "snapshot": snapshots[-1]}),
            )
        raise NotRestorable(f"no provable base backup before {to_str(stop_before)}; {_windows(timeline)}")
    base = max(candidates, key=lambda m: m.end)
    needed = [s for s in segments if s.end > base.end and s.start < stop_before]
    _check_chain(base, needed, timeline)
    return PitrPlan(plan_restore(base, nsmap, with_users), stop_before, needed)


def _windows(timeline: Timeline) -> str:
    shown = "; ".join(
        f"{w['start_wall']} ({w['start']}) .. {w['end_wall']} ({w['end']})"
        for w in timeline.describe()["windows"]
    )
    return f"restorable windows: {shown or 'none'}"


def _check_chain(base: Manifest, needed: list[Segment], timeline: Timeline) -> None:
    """The segments must chain from the base's consistent point on without a hole: a base
    whose point the chain does not cover would silently lose the writes in between."""
    reached = base.end
    for seg in needed:
        if seg.start > reached:
            raise NotRestorable(
                f"the archived oplog has a hole after {to_str(reached)} between base backup "
                f"{base.backup_id} ({base.end_ts}) and the target; {_windows(timeline)}"
            )
        reached = max(reached, seg.end)


def choose_restore(
    repo: Repository,
    backup_id: str,
    to: Point | None,
    deployment: str | None,
    nsmap: NamespaceMap,
    with_users: bool = False,
) -> tuple[RestorePlan, PitrPlan | None]:
    """What BACKUP_ID or ``--to T`` means: the plan of a base backup, and for ``--to`` the
    archived segments to replay after it and where to stop."""
    if to is None:
        return plan_restore(repo.resolve(backup_id, deployment), nsmap, with_users), None
    if backup_id != "latest":
        raise UsageError("a point in time picks its base backup itself: a backup id cannot be given too")
    history = load_history(repo, deployment)
    stop_before = resolve(to, history, repo.storage)
    pitr = plan_pitr(history.manifests, history.timeline, history.segments, stop_before, nsmap, with_users)
    window = history.timeline.window_for(pitr.stop_before)
    closer = [
        s
        for s in history.snapshots
        if window is not None
        and f"snapshot:{s.snapshot_id}" in window.backups
        and pitr.base.manifest.end < s.end < pitr.stop_before
    ]
    if closer:
        pitr = replace(pitr, closer_snapshot=f"snapshot:{max(closer, key=lambda s: s.end).snapshot_id}")
    return pitr.base, pitr
