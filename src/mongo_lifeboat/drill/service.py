"""``lifeboat drill``: restore a moment into staging, prove it, time it against the RTO.

Phases (each timed): fetch and verify every object the restore needs; load (collections,
documents, views); replay the oplog to T; build indexes; users; then the proof — integrity,
structure, data (see ``proof``) — which is the drill's own overhead, not recovery time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..catalog.history import History, load_history
from ..catalog.points import LATEST, Point
from ..embedded import ScratchServer
from ..errors import LifeboatError, StagingIsSource
from ..events import PhaseClock, Reporter, Update, silent
from ..mongo.client import connect, describe
from ..mongo.nsmap import NamespaceMap
from ..oplog.segment_spool import SegmentSpool
from ..repo.integrity import verify_objects
from ..repo.repository import Repository
from ..restore.pitr import PitrPlan, choose_restore
from ..restore.plan import RestorePlan
from ..restore.service import RestoreOptions, run_restore
from ..secrets import redact
from ..timestamps import iso, just_before, to_str, wall_of
from . import fingerprint
from . import report as reports
from .changes import commanded_between, read_changes
from .fingerprint import Fingerprint
from .proof import (
    Proof,
    check_structure,
    compare_with_source,
    data_namespaces,
    judge_absent,
    judge_data,
    restored_and_written,
)
from .report import RECOVERY_PHASES, DrillReport
from .snapshot_reads import pins_snapshots

# How run_restore's phases add up to the drill's recovery phases.
_PHASE_OF = {
    "verify": "fetch_verify",
    "prepare": "load",
    "load": "load",
    "views": "load",
    "replay": "replay",
    "indexes": "indexes",
    "users": "users",
}


@dataclass(frozen=True)
class DrillOptions:
    source_uri: str
    to: Point | None = None  # None: the latest restorable moment
    staging: str = "scratch"  # or a MongoDB URI (never the source)
    ns_include: tuple[str, ...] = ()
    jobs: int = 4
    rto_s: float | None = None
    plan_name: str | None = None
    timeout_ms: int = 10_000
    plan_parts: dict[str, str] | None = None  # the plan's fingerprint parts (None: no plan file)
    # Test hook only: called with the staging client between the restore and the proof.
    before_proof: Callable[[MongoClient[Any]], None] | None = None


def _hello(client: MongoClient[Any]) -> dict[str, Any]:
    return dict(client.admin.command("hello"))


def refuse_source_as_staging(source: MongoClient[Any], staging: MongoClient[Any]) -> None:
    """The same replica set (name and a member in common), or the same server: refused."""
    a, b = _hello(source), _hello(staging)
    members_a = {*a.get("hosts", []), *a.get("passives", []), a.get("me")} - {None}
    members_b = {*b.get("hosts", []), *b.get("passives", []), b.get("me")} - {None}
    same_set = a.get("setName") and a.get("setName") == b.get("setName") and members_a & members_b
    same_server = source.address is not None and source.address == staging.address
    if same_set or same_server:
        raise StagingIsSource(
            f"the staging server is the source itself (replica set {a.get('setName') or '-'}, "
            f"members {', '.join(sorted(members_a & members_b)) or describe(str(staging.address))}): nothing was written"
        )


@contextlib.contextmanager
def staging_client(opts: DrillOptions, source: MongoClient[Any]) -> Iterator[tuple[MongoClient[Any], str]]:
    if opts.staging == "scratch":
        with ScratchServer() as server:
            client = connect(server.uri, role="staging", timeout_ms=opts.timeout_ms)
            try:
                yield client, f"scratch ({server.host}:{server.port})"
            finally:
                client.close()
        return
    client = connect(opts.staging, role="staging", timeout_ms=opts.timeout_ms)
    try:
        refuse_source_as_staging(source, client)
        yield client, describe(opts.staging)
    finally:
        client.close()


def run_drill(
    repo: Repository,
    deployment: str | None,
    opts: DrillOptions,
    report: Reporter = silent,
) -> DrillReport:
    started = datetime.now(UTC)
    clock = PhaseClock("drill", report)
    nsmap = NamespaceMap.build(include=opts.ns_include)
    history = load_history(repo, deployment)
    plan, pitr = choose_restore(repo, "latest", opts.to or LATEST, history.deployment, nsmap)
    target = pitr.stop_before if pitr else plan.manifest.end
    proof = Proof()
    source = connect(opts.source_uri, role="source", timeout_ms=opts.timeout_ms)
    proved = fingerprint.take(opts.plan_parts, source)  # at the start: what the drill is about to prove
    try:
        with staging_client(opts, source) as (staging, staging_name), SegmentSpool() as spool:
            with clock.phase("fetch_verify"):
                verified = verify_objects(repo.storage, plan.manifest.backup_id, plan.objects(), opts.jobs)
                if pitr:  # fetched once: the proof checks them here, the restore replays these copies
                    fetched = spool.fetch(repo.storage, pitr.segments, opts.jobs)
                    verified.objects += len(pitr.segments)
                    verified.bytes += sum(s.size for s in pitr.segments)
                    verified.oplog_entries += fetched.entries
                    verified.problems += fetched.problems
            for problem in verified.problems:
                proof.fail("integrity", problem["problem"], object=problem["object"])
            if verified.ok:
                try:
                    _restore(repo, plan, pitr, staging, opts, clock, spool)
                except (LifeboatError, PyMongoError) as e:
                    proof.fail("restore", redact(getattr(e, "message", str(e))))
            if verified.ok and not proof.failures:
                if opts.before_proof is not None:
                    opts.before_proof(staging)
                with clock.phase("proof"):
                    _prove(proof, repo, history, plan, target, source, staging, opts.jobs, spool)
    finally:
        source.close()
    return _report(repo, history, plan, target, opts, started, staging_name, clock, proof, verified, proved)


def _restore(
    repo: Repository,
    plan: RestorePlan,
    pitr: PitrPlan | None,
    staging: MongoClient[Any],
    opts: DrillOptions,
    clock: PhaseClock,
    spool: SegmentSpool,
) -> None:
    def on_update(u: Update) -> None:
        if u.kind == "phase":  # several restore phases make one drill phase
            clock.enter(_PHASE_OF.get(u.name, u.name))

    result = run_restore(
        repo,
        plan,
        staging,
        RestoreOptions(jobs=opts.jobs, drop=opts.staging != "scratch"),
        on_update,
        pitr,
        spool,
    )
    for name, seconds in result.phases.items():
        clock.add(_PHASE_OF.get(name, name), seconds)


def _prove(
    proof: Proof,
    repo: Repository,
    history: History,
    plan: RestorePlan,
    target: Timestamp,
    source: MongoClient[Any],
    staging: MongoClient[Any],
    jobs: int,
    spool: SegmentSpool,
) -> None:
    data_ns = [t.target_ns for t in plan.collections if not t.is_buckets and t.entry.type == "collection"]
    for task in plan.collections:
        if task.entry.type == "timeseries":
            db, coll = task.target_ns.split(".", 1)
            n = staging[db][coll].count_documents({})
            proof.documents_restored += n
            proof.skip("time-series collection (compared by structure)", n)
    # Every namespace that exists at T, not only the base's: collections the replay created
    # (after the base, or by a rename) are proven like the others, and one the source has
    # that the restore lacks is a failure unless it came into being after T.
    on_staging, on_source = data_namespaces(staging, plan.nsmap), data_namespaces(source, plan.nsmap)
    data_ns += sorted(on_staging - set(data_ns))
    absent = sorted(on_source - on_staging - {t.target_ns for t in plan.collections})
    snapshot_at = just_before(target) if pins_snapshots(source) else None  # a restore to T stops before it
    compared = compare_with_source(staging, source, data_ns, absent, jobs, snapshot_at)
    counts = compared.counts
    proof.documents_restored += sum(compared.restored.values())
    proof.collections_at_t = len(compared.at_t)
    changes = read_changes(repo.storage, history.segments, source, target, counts.at, counts.by)
    judge_absent(proof, changes, absent, counts)
    written = restored_and_written(staging, changes, [ns for ns in data_ns if ns not in compared.at_t])
    judge_data(proof, changes, compared.restored, written, compared.candidates, counts, compared.at_t)
    before = commanded_between(repo.storage, history.segments, plan.manifest.end, target, spool.batches)
    every_ns = [t.source_ns for t in [*plan.collections, *plan.views]]
    check_structure(
        proof, staging, source, plan, {ns for ns in every_ns if not before.stable_collection(ns)}, changes
    )


def _report(
    repo: Repository,
    history: History,
    plan: RestorePlan,
    target: Timestamp,
    opts: DrillOptions,
    started: datetime,
    staging_name: str,
    clock: PhaseClock,
    proof: Proof,
    verified: Any,
    proved: Fingerprint,
) -> DrillReport:
    whole = sum(c.raw_bytes for c in plan.manifest.collections)
    return finish_report(
        repo,
        history.deployment,
        plan.manifest.backup_id,
        target,
        opts,
        started,
        staging_name,
        clock,
        proof,
        # A subset drill's time, scaled to the whole backup.
        scale=whole / plan.raw_bytes if opts.ns_include and plan.raw_bytes > 0 else None,
        judge_rto=verified.ok,
        objects_verified=verified.objects,
        collections=len(plan.collections),
        proved=proved,
    )


def finish_report(
    repo: Repository,
    deployment: str,
    base: str,
    target: Timestamp,
    opts: DrillOptions,
    started: datetime,
    staging_name: str,
    clock: PhaseClock,
    proof: Proof,
    scale: float | None = None,
    judge_rto: bool = True,
    objects_verified: int = 0,
    collections: int = 0,
    proved: Fingerprint | None = None,
) -> DrillReport:
    """The recovery time against the RTO (a failure of its own when over it), then the report,
    stored. Every kind of drill ends here."""
    recovery_s = round(sum(clock.phases.get(p, 0.0) for p in RECOVERY_PHASES), 3)
    projected = round(recovery_s * scale, 3) if scale is not None else None
    margin = None
    if opts.rto_s is not None:
        margin = round(opts.rto_s - (projected if projected is not None else recovery_s), 3)
        if margin < 0 and judge_rto:
            measured = (
                f"projected {projected:.1f}s for the whole backup" if projected else f"took {recovery_s:.1f}s"
            )
            proof.fail("rto", f"the recovery {measured}: over the RTO of {opts.rto_s:g}s by {-margin:.1f}s")
    ordered = {p: clock.phases[p] for p in (*RECOVERY_PHASES, "proof") if p in clock.phases}
    report = DrillReport(
        id=reports.new_drill_id(started),
        deployment=deployment,
        plan_name=opts.plan_name,
        verdict="fail" if proof.failures else "pass",
        started_at=iso(started),
        finished_at=iso(datetime.now(UTC)),
        target_ts=to_str(target),
        target_wall=wall_of(target),
        base_backup=base,
        staging=staging_name,
        scope=list(opts.ns_include),
        phases=ordered,
        recovery_s=recovery_s,
        projected_recovery_s=projected,
        rto=opts.rto_s,
        margin=margin,
        objects_verified=objects_verified,
        collections=collections,
        documents_restored=proof.documents_restored,
        documents_compared=proof.documents_compared,
        documents_skipped=proof.documents_skipped,
        collections_at_t=proof.collections_at_t,
        skipped=dict(proof.skipped),
        failures=proof.failures,
        fingerprint=proved,
    )
    reports.store(repo.storage, report)
    return report
