"""Restore a base backup: plan, check the target, load, replay the bracket, indexes, views, users."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ..ejson import from_ejson
from ..errors import IntegrityError, RestoreFailed, TargetNotEmpty
from ..events import PhaseClock, Reporter, Update, silent
from ..oplog.apply.applier import Applier
from ..oplog.apply.entries import units
from ..oplog.apply.indexes import IndexCatalog
from ..oplog.segment_spool import DEFAULT_BUDGET_BYTES, SegmentSpool
from ..oplog.segments import Segment, backup_oplog, no_local_copy
from ..remedies import Remedy
from ..repo import layout
from ..repo.damage import record_damage
from ..repo.integrity import verify_objects
from ..repo.repository import Repository
from ..timestamps import to_str
from . import auth
from .early_indexes import EarlyIndexes, settled_namespaces
from .load import Loaded, load_all
from .pitr import PitrPlan
from .plan import CollectionTask, RestorePlan

_NAMESPACE_EXISTS = 48


@dataclass
class RestoreReport:
    backup_id: str
    restored_to: str
    collections: int = 0
    views: int = 0
    documents: int = 0
    oplog_entries: int = 0
    indexes: int = 0
    users_and_roles: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Per collection (target ns): documents, load_s (first batch sent to last one in), index_s
    # (its createIndexes) and indexes_built: "during the load" where the replay cannot change
    # the collection, else "after the replay".
    by_collection: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes_during_load: int = 0


@dataclass(frozen=True)
class RestoreOptions:
    jobs: int = 4
    drop: bool = False
    verify_first: bool = False
    # Build a collection's indexes as soon as it is loaded where the replay cannot change it
    # (early_indexes). Off by default: on SecantusDB, which serves one request at a time, it
    # measured slower (bench_backup_restore: 25.5 s against 18.7 s at 100k documents).
    index_builds_during_load: bool = False
    # Local disk for the archived segments a point-in-time restore replays (fetched once, kept
    # here); past it, a segment is checked, then fetched again to replay (0: the old two passes).
    segment_spool_bytes: int = DEFAULT_BUDGET_BYTES


def _split(ns: str) -> tuple[str, str]:
    db, coll = ns.split(".", 1)
    return db, coll


def check_target(target: MongoClient[Any], plan: RestorePlan, drop: bool, dry_run: bool = False) -> None:
    """Refuse (before any write) when restored namespaces already hold data, unless --drop.
    ``dry_run``: the same checks, nothing dropped."""
    busy = []
    for task in [*plan.collections, *plan.views]:
        if task.is_buckets:
            continue
        db, coll = _split(task.target_ns)
        info = list(target[db].list_collections(filter={"name": coll}))
        if not info:
            continue
        if info[0].get("type") == "view" or target[db][coll].find_one({}, {"_id": 1}) is not None:
            busy.append(task.target_ns)
    if busy and not drop:
        shown = ", ".join(busy[:5]) + (f" and {len(busy) - 5} more" if len(busy) > 5 else "")
        raise TargetNotEmpty(f"the target already holds data in {len(busy)} namespace(s): {shown}")
    if drop and not dry_run:
        for task in [*plan.collections, *plan.views]:
            if not task.is_buckets:
                db, coll = _split(task.target_ns)
                target[db].drop_collection(coll)


def _create_collections(target: MongoClient[Any], tasks: list[CollectionTask]) -> None:
    # Time-series collections create their buckets collections themselves.
    for task in sorted(tasks, key=lambda t: t.is_buckets):
        if task.is_buckets:
            continue
        db, coll = _split(task.target_ns)
        options = from_ejson(task.entry.options)
        try:
            target[db].command({"create": coll, **options})
        except OperationFailure as e:
            if e.code != _NAMESPACE_EXISTS:
                raise RestoreFailed(f"creating {task.target_ns} failed: {e}") from e


def _create_views(target: MongoClient[Any], plan: RestorePlan) -> None:
    for task in plan.views:
        db, coll = _split(task.target_ns)
        options = from_ejson(task.entry.options)
        options["viewOn"] = plan.nsmap.view_on(task.entry.db, options.get("viewOn", ""))
        try:
            target[db].command({"create": coll, **options})
        except OperationFailure as e:
            if e.code != _NAMESPACE_EXISTS:
                raise RestoreFailed(f"creating view {task.target_ns} failed: {e}") from e


def _replay(
    repo: Repository,
    applier: Applier,
    plan: RestorePlan,
    more: Iterable[Segment] = (),
    stop_before: Timestamp | None = None,
    spool: SegmentSpool | None = None,
) -> int:
    """Replay the backup's bracket, then ``more`` (archived segments after end_ts), as one
    stream, so a transaction that spans the two is applied whole. Returns entries read."""
    counts: dict[str, int] = {}
    local = spool.batches if spool is not None else no_local_copy
    applier.apply(units(backup_oplog(repo.storage, plan.manifest, more, counts, local)), stop_before)
    return counts["bracket"] + counts["more"]


def run_restore(
    repo: Repository,
    plan: RestorePlan,
    target: MongoClient[Any],
    opts: RestoreOptions,
    report_to: Reporter = silent,
    pitr: PitrPlan | None = None,
    spool: SegmentSpool | None = None,
) -> RestoreReport:
    """Restore ``plan`` (to its end_ts), or with ``pitr`` on to ``pitr.stop_before``. The
    archived segments are fetched once (``segment_spool``): checked before anything is written,
    replayed from the local copy. ``spool``: one the caller already fetched them into (a drill's
    integrity proof), which stays the caller's to close."""
    if spool is not None:
        return _run_restore(repo, plan, target, opts, report_to, pitr, spool)
    with SegmentSpool(opts.segment_spool_bytes) as own:
        return _run_restore(repo, plan, target, opts, report_to, pitr, own)


def _run_restore(
    repo: Repository,
    plan: RestorePlan,
    target: MongoClient[Any],
    opts: RestoreOptions,
    report_to: Reporter,
    pitr: PitrPlan | None,
    spool: SegmentSpool,
) -> RestoreReport:
    restored_to = to_str(pitr.stop_before) if pitr else plan.manifest.end_ts
    report = RestoreReport(plan.manifest.backup_id, restored_to)
    phases = PhaseClock("restore", report_to, report.phases)

    if opts.verify_first or opts.drop or pitr:
        # Archived segments are always checked first: they are read last, after the data.
        # With --drop everything is: the target's data must never be dropped for a backup
        # that then turns out unreadable.
        phases.start("verify")
        objects = plan.objects() if opts.verify_first or opts.drop else []
        result = verify_objects(repo.storage, plan.manifest.backup_id, objects, opts.jobs)
        unchecked = [s for s in pitr.segments if s.key not in spool.checked] if pitr else []
        problems = result.problems + spool.fetch(repo.storage, unchecked, opts.jobs).problems
        if problems:
            first = problems[0]
            damaged = [p for p in problems if layout.is_segment_key(p["object"])]
            for p in damaged:  # a gap in the timeline from now on, not an error met again
                record_damage(repo.storage, p["object"], p["problem"])
            raise IntegrityError(
                f"{len(problems)} bad object(s), nothing was written; first: {first['problem']}",
                "a damaged segment is a gap in the timeline from now on: choose a point before it, or {do}"
                if damaged
                else None,
                Remedy("repair-from-copy") if damaged else None,
            )

    phases.start("prepare")
    check_target(target, plan, opts.drop)
    _create_collections(target, plan.collections)
    catalog = IndexCatalog()
    for task in plan.collections:
        catalog.add_collection(task.source_ns, [from_ejson(ix) for ix in task.entry.indexes])
    settled = (
        settled_namespaces(repo.storage, plan, pitr.segments if pitr else [])
        if opts.index_builds_during_load
        else set()
    )
    early = EarlyIndexes(target, catalog, plan, settled, opts.jobs)
    loaded = Loaded(plan.files, early.loaded)

    phases.start("load")
    report_to(Update("restore", "progress", "documents", total=plan.documents))

    def progress(ns: str, docs: int, raw: int) -> None:
        report_to(Update("restore", "progress", "documents", ns=ns, done=docs, bytes=raw))

    try:
        report.documents = load_all(target, repo.storage, plan.files, opts.jobs, progress, loaded)
        report.collections = len(plan.collections)

        phases.start("views")
        _create_views(target, plan)
        report.views = len(plan.views)

        phases.start("replay")
        known = {t.source_ns for t in [*plan.collections, *plan.views]}
        applier = Applier(target, plan.nsmap, catalog, known, workers=opts.jobs)
        if pitr is None:
            report.oplog_entries = _replay(repo, applier, plan)
        else:
            report.oplog_entries = _replay(repo, applier, plan, pitr.segments, pitr.stop_before, spool)
        report.warnings.extend(applier.stats.warnings)

        phases.start("indexes")  # what the load did not build already
        report.indexes_during_load = early.finish()
    except BaseException:
        early.abandon()
        raise
    index_s = dict(early.index_s)
    report.indexes = report.indexes_during_load + catalog.build(
        target, plan.nsmap.target, skip=early.built, timings=index_s
    )
    report.by_collection = _by_collection(plan, loaded.seconds(), index_s, early.built)

    if plan.auth:
        phases.start("users")
        report.users_and_roles = auth.restore_auth(target, repo.storage, plan.auth)
    phases.stop()
    return report


def _by_collection(
    plan: RestorePlan, load_s: dict[str, float], index_s: dict[str, float], early: set[str]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for task in plan.collections:
        if task.is_buckets:
            continue
        ns = task.target_ns
        out[ns] = {
            "documents": task.entry.documents,
            "load_s": round(load_s.get(ns, 0.0), 3),
            "index_s": round(index_s.get(ns, 0.0), 3),
            "indexes_built": "during the load" if task.source_ns in early else "after the replay",
        }
    return out
