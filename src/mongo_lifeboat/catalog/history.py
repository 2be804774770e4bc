"""What the repository knows about a deployment's past: backups, segments, timeline, incidents."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp

from ..errors import BackupNotFound, SeveralDeployments, UsageError
from ..oplog import chain
from ..oplog.apply.entries import units
from ..oplog.incidents import INCIDENT_PREFIX, Incident, find_incidents
from ..oplog.segments import Segment, iter_entries, list_segments, read_state
from ..remedies import Remedy
from ..repo import layout
from ..repo.damage import damaged_objects
from ..repo.manifest import Manifest
from ..repo.repository import Repository
from ..repo.storage import ObjectInfo, ObjectMissing, Storage
from ..timestamps import from_hex16, parse_iso
from .snapshots import SnapshotManifest, list_snapshots
from .timeline import Timeline, build_timeline

# An incident's start depends only on the entries shortly before it: looking this far
# around a claimed position finds it, without reading the whole archive.
_AROUND_S = 600


@dataclass
class History:
    deployment: str
    manifests: list[Manifest]
    segments: list[Segment]
    timeline: Timeline
    snapshots: list[SnapshotManifest] = field(default_factory=list)
    # Base backups under this name that the archive shows to be of another history:
    # backup id -> why. They restore as themselves, never as a point-in-time base.
    foreign: dict[str, str] = field(default_factory=dict)
    # Segments recorded as damaged (``repo.damage``): left out of ``segments`` and so of
    # the timeline, where each is a gap until repaired; still the archive's (prune sees them).
    damaged: list[Segment] = field(default_factory=list)
    # Base backups with an object recorded as damaged: backup id -> what and why. No window
    # rests on them until repaired (a restore from one would stop at the damaged object).
    damaged_bases: dict[str, str] = field(default_factory=dict)


def deployments(repo: Repository, listed: Sequence[ObjectInfo] | None = None) -> list[str]:
    listed = list(repo.storage.list()) if listed is None else listed
    names = {b.manifest.deployment for b in repo.list_backups(listed) if b.manifest}
    for obj in listed:
        if layout.is_segment_key(obj.key) or obj.key.split("/")[1:2] == ["snapshots"]:
            names.add(obj.key.split("/", 1)[0])
    return sorted(names)


def single_deployment(repo: Repository) -> str | None:
    """The deployment of a repository that holds one (None when it holds none or several)."""
    known = deployments(repo)
    return known[0] if len(known) == 1 else None


def load_history(repo: Repository, deployment: str | None = None) -> History:
    # One listing of the repository serves the backups, the deployments and the segments (each
    # used to make its own: three times the requests that grow with the archive's age).
    listed = list(repo.storage.list())
    known = deployments(repo, listed)
    if deployment is None:
        if not known:
            raise BackupNotFound(f"no backups or archived oplog in {repo.url}", remedy=Remedy("backup"))
        if len(known) > 1:
            raise SeveralDeployments(f"the repository holds several deployments: {', '.join(known)}")
        deployment = known[0]
    manifests = [
        b.manifest for b in repo.list_backups(listed) if b.manifest and b.manifest.deployment == deployment
    ]
    recorded = damaged_objects(repo.storage, deployment)
    archived = list_segments(repo.storage, deployment, recorded, listed)
    segments = [s for s in archived if s.key not in recorded]
    damaged = [s for s in archived if s.key in recorded]
    state = read_state(repo.storage, deployment)
    if state is not None:
        state = {**state, **archiver_status(repo, deployment, state)}
    snapshots = list_snapshots(repo.storage, deployment)
    foreign = chain.foreign_bases(repo.storage, manifests, segments)
    bases = [m for m in manifests if m.backup_id not in foreign]
    broken = _damaged_bases(bases, recorded)
    timeline = build_timeline([m for m in bases if m.backup_id not in broken], segments, state, snapshots)
    timeline.damaged = [{"key": s.key, "problem": recorded[s.key].problem} for s in damaged]
    timeline.damaged_bases = [{"backup_id": b, "problem": why} for b, why in broken.items()]
    return History(deployment, bases, segments, timeline, snapshots, foreign, damaged, broken)


def _damaged_bases(bases: list[Manifest], recorded: dict[str, Any]) -> dict[str, str]:
    out = {}
    for m in bases:
        bad = [f.key for f in m.all_files() if f.key in recorded]
        if bad:
            out[m.backup_id] = f"{bad[0]}: {recorded[bad[0]].problem}" + (
                f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            )
    return out


def scan_incidents(
    repo: Repository,
    history: History,
    since: Timestamp | None = None,
    ns_filter: Callable[[str], bool] | None = None,
    min_docs: int = 100,
    window_s: float = math.inf,
    min_rate: float = 50.0,
) -> list[Incident]:
    segments = [s for s in history.segments if since is None or s.end > since]
    stream = (u for u in units(iter_entries(repo.storage, segments)) if since is None or u.ts >= since)
    return find_incidents(
        stream, min_docs=min_docs, window_s=window_s, min_rate=min_rate, ns_filter=ns_filter
    )


def incident_by_id(storage: Storage, segments: list[Segment], incident_id: str) -> Incident:
    """The incident ``incident_id`` names, as ``lifeboat incidents`` reports it (any
    ``--min-docs``). An id that names no reported incident is refused, listing those near it:
    an id is never taken as a bare oplog position (that is what ``seconds:increment`` is for)."""
    try:
        ts = from_hex16(incident_id[len(INCIDENT_PREFIX) :])
    except ValueError as e:
        raise UsageError(
            f"not an incident id: {incident_id!r}", "incident ids look like inc-6b0538bf00000005"
        ) from e
    near = [s for s in segments if s.end.time >= ts.time - _AROUND_S and s.start.time <= ts.time + _AROUND_S]
    found = find_incidents(units(iter_entries(storage, near)), min_docs=1)
    match = next((i for i in found if i.id == incident_id), None)
    if match is not None:
        return match
    reported = [i for i in found if i.count >= 100 or not i.kind.startswith("bulk")]
    listed = ", ".join(f"{i.id} ({i.kind} {i.ns})" for i in reported[:8]) or "none"
    raise UsageError(
        f"{incident_id} is not an incident in the archived oplog; incidents within {_AROUND_S // 60} "
        f"minutes of it: {listed}",
        "{do}; a bare oplog position is written seconds:increment",
        Remedy("incidents"),
    )


def archiver_status(repo: Repository, deployment: str, state: dict[str, Any]) -> dict[str, Any]:
    """Whether an archiver is running now (it holds an unexpired lease), and how old its last
    recorded position is: a stopped archiver's last lag says nothing about now."""
    now = datetime.now(UTC)
    running = False
    try:
        with repo.storage.get(layout.lock_key(deployment, "archiver")) as f:
            lease = json.loads(f.read())
        running = parse_iso(lease["expires"]) > now
    except (ObjectMissing, ValueError, KeyError):
        pass
    updated = parse_iso(state["updated_at"])
    age = round((now - updated).total_seconds(), 1)
    # What losing the source now would lose, as far as the record can tell: the lag it
    # measured plus how old that measure is (the source may have written all along since).
    exposure = round(float(state.get("lag_s") or 0) + age, 1)
    return {"running": running, "age_s": age, "exposure_s": exposure}
