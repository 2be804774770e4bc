"""``lifeboat prune``: apply a retention policy to one repository (see ``retention``).

Holds the deployment's ``prune`` lease, so two prunes never race. Running backups are never
touched (they are not complete, so no policy sees them); incomplete ones are removed once
older than the grace period. Each backup loses its manifest first, and segments go oldest
first: a prune killed half-way leaves incomplete backups and a shorter archive, never a
complete backup with holes or a hole inside the archive that is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..catalog.history import History
from ..catalog.snapshots import SnapshotManifest
from ..catalog.snapshots import delete as delete_snapshot_record
from ..oplog.segments import Segment, all_segments, held_twice
from ..repo import layout
from ..repo.damage import clear_damage
from ..repo.lease import Lease
from ..repo.repository import Repository
from ..timestamps import to_str
from . import housekeeping
from .retention import Policy, plan_prune


@dataclass
class PruneReport:
    deployment: str
    dry_run: bool
    kept: dict[str, list[str]] = field(default_factory=dict)
    deleted_backups: list[dict[str, Any]] = field(default_factory=list)
    deleted_segments: int = 0
    segment_bytes: int = 0
    incomplete_removed: list[str] = field(default_factory=list)
    # Past the policy but under Object Lock retention: left for a later prune.
    locked: list[dict[str, str]] = field(default_factory=list)
    promised: list[dict[str, str]] = field(default_factory=list)
    deleted_snapshots: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(int(b["bytes"]) for b in self.deleted_backups) + self.segment_bytes


def _proof(deployment: str, seg: Segment) -> str:
    return layout.merge_proof_key(deployment, seg.start, seg.end)


def _age_s(backup_id: str, now: datetime) -> float:
    started = datetime.strptime(backup_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return (now - started).total_seconds()


def prune(
    repo: Repository,
    history: History,
    policy: Policy,
    grace_s: float,
    dry_run: bool,
    now: datetime | None = None,
    delete_snapshot: Callable[[SnapshotManifest], None] | None = None,
) -> PruneReport:
    """``delete_snapshot``: removes a snapshot at its provider (then its record goes); without
    it snapshots are left as they are."""
    now = now or datetime.now(UTC)
    report = PruneReport(history.deployment, dry_run)
    lease = Lease(repo.storage, history.deployment, "prune", 300.0)
    if not dry_run:
        lease.acquire()
    try:
        snapshots = history.snapshots if delete_snapshot is not None else []
        plan = plan_prune(
            history.manifests,
            sorted([*history.segments, *history.damaged], key=lambda s: s.start),
            policy,
            now,
            snapshots,
        )
        report.kept = plan.keep
        report.promised = [{"after": to_str(a), "through": to_str(b)} for a, b in plan.promised]
        listings = {
            b.backup_id: b
            for b in repo.list_backups()
            if b.deployment_key == layout.escape_name(history.deployment)
        }
        for backup_id in plan.delete:
            until = repo.storage.locked_until(layout.manifest_key(history.deployment, backup_id))
            if until is not None:
                report.locked.append({"backup_id": backup_id, "until": until.isoformat(timespec="seconds")})
                continue
            d = housekeeping.planned_deletion(repo, listings[backup_id], "complete")
            report.deleted_backups.append({"backup_id": backup_id, "objects": d.objects, "bytes": d.bytes})
            if not dry_run:
                housekeeping.execute(repo, d)
        for listing in listings.values():
            if listing.complete or _age_s(listing.backup_id, now) < grace_s:
                continue
            if housekeeping.status(repo, listing) == "incomplete":
                d = housekeeping.planned_deletion(repo, listing, "incomplete")
                report.incomplete_removed.append(listing.backup_id)
                report.deleted_backups.append(
                    {"backup_id": listing.backup_id, "objects": d.objects, "bytes": d.bytes}
                )
                if not dry_run:
                    housekeeping.execute(repo, d)
        by_id = {m.snapshot_id: m for m in snapshots}
        for snapshot_id in plan.delete_snapshots:  # the provider's first, then the record
            snap = by_id[snapshot_id]
            report.deleted_snapshots.append({"snapshot_id": snapshot_id, "provider_ids": snap.provider_ids})
            if not dry_run and delete_snapshot is not None:
                delete_snapshot(snap)
                delete_snapshot_record(repo.storage, snap)
        doomed = []
        for seg in sorted(plan.delete_segments, key=lambda s: (s.start, s.end)):
            until = repo.storage.locked_until(seg.key)
            if until is not None:  # locks end in the order segments were written: the rest wait too
                report.locked.append({"segment": seg.key, "until": until.isoformat(timespec="seconds")})
                break
            doomed.append(seg)
        # A merged segment goes with the sources it still holds twice (kept through compaction's
        # grace, or under Object Lock): left behind, they would read as an archive of their own.
        contained = {
            outer.key: inner for outer, inner in held_twice(all_segments(repo.storage, history.deployment))
        }
        held = [s for seg in doomed for s in contained.get(seg.key, [])]
        report.deleted_segments = len(doomed) + len(held)
        report.segment_bytes = sum(s.size for s in [*doomed, *held])
        if not dry_run:
            damaged = {s.key for s in history.damaged}
            for seg in doomed:  # oldest first: the archive that is kept never has a hole inside
                inner = contained.get(seg.key, [])
                # What it contains first (it still covers them), then its proof, then itself.
                repo.storage.delete([k for s in inner for k in (s.key, _proof(history.deployment, s))])
                repo.storage.delete([_proof(history.deployment, seg)])
                repo.storage.delete([seg.key])
                if seg.key in damaged:
                    clear_damage(repo.storage, seg.key)
    finally:
        if not dry_run:
            lease.release()
    return report
