"""``lifeboat drill --base snapshot:ID``: a drill of a volume-snapshot base.

The provider's ``restore`` command brings a staging server up on the snapshot's data and
prints its URI (its last line of output); that is timed as the ``load`` phase (the data
arriving). Then the archived oplog is replayed on it to T (``replay``, with the index
reconciliation), and the proof runs as for every drill: every document against the source
(written-since-T ones accounted for from the archive and the live oplog), and each collection's
indexes against the source's where no command changed them since T. The staging server is the
provider's to stop (``[snapshot.command] delete`` of a drill copy, or its own lifetime).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..catalog import snapshots
from ..catalog.history import History, load_history
from ..catalog.points import LATEST, resolve
from ..catalog.snapshots import SnapshotManifest
from ..config import SnapshotSettings
from ..errors import LifeboatError
from ..events import PhaseClock, Reporter, silent
from ..mongo.catalog import list_source_collections
from ..mongo.client import connect, describe
from ..mongo.indexes import indexes_of
from ..oplog.reader import written_through
from ..repo.repository import Repository
from ..secrets import redact
from ..snapshot.providers import Provider, bring_up, provider_for
from ..snapshot.restore import restore_from_snapshot
from ..timestamps import just_after
from . import fingerprint
from .changes import commanded_between, read_changes
from .proof import Proof, compare_with_source, judge_data, restored_and_written
from .report import DrillReport
from .service import DrillOptions, finish_report, refuse_source_as_staging


def _collections(client: MongoClient[Any]) -> list[str]:
    """The user collections that hold documents (what the data proof compares)."""
    return sorted(
        c.ns
        for c in list_source_collections(client)
        if c.type == "collection" and not c.name.startswith("system.")
    )


def drill_snapshot(
    repo: Repository,
    deployment: str | None,
    base: str,
    settings: SnapshotSettings,
    opts: DrillOptions,
    report: Reporter = silent,
) -> DrillReport:
    """A drill whose base is ``base`` (``snapshot:ID``), through the plan's snapshot provider."""
    history = load_history(repo, deployment)
    snapshot = snapshots.load(repo.storage, history.deployment, base)
    return run_snapshot_drill(
        repo, history, snapshot, provider_for(settings, snapshot.provider), opts, report
    )


def run_snapshot_drill(
    repo: Repository,
    history: History,
    snapshot: SnapshotManifest,
    provider: Provider,
    opts: DrillOptions,
    report: Reporter = silent,
) -> DrillReport:
    started = datetime.now(UTC)
    clock = PhaseClock("drill", report)
    target = resolve(opts.to or LATEST, history, repo.storage, within_archive=True)
    proof = Proof()
    source = connect(opts.source_uri, role="source", timeout_ms=opts.timeout_ms)
    proved = fingerprint.take(opts.plan_parts, source)
    staging_name = "?"
    try:
        with clock.phase("load"):
            uri = bring_up(
                provider,
                snapshot,
                "for a drill, [snapshot.command] restore starts a server on the snapshot's data and prints "
                "its URI last",
            )
        staging_name = describe(uri)
        staging = connect(uri, role="staging", timeout_ms=opts.timeout_ms)
        try:
            refuse_source_as_staging(source, staging)
            try:
                with clock.phase("replay"):
                    restore_from_snapshot(repo.storage, snapshot, history, staging, target, opts.jobs)
            except (LifeboatError, PyMongoError) as e:
                proof.fail("restore", redact(getattr(e, "message", str(e))))
            if not proof.failures:
                with clock.phase("proof"):
                    _prove(proof, repo, history, target, source, staging, opts.jobs)
        finally:
            staging.close()
    finally:
        source.close()
    base = f"snapshot:{snapshot.snapshot_id}"
    return finish_report(
        repo, history.deployment, base, target, opts, started, staging_name, clock, proof, proved=proved
    )


def _prove(
    proof: Proof,
    repo: Repository,
    history: History,
    target: Timestamp,
    source: MongoClient[Any],
    staging: MongoClient[Any],
    jobs: int,
) -> None:
    data_ns = sorted(set(_collections(staging)) | set(_collections(source)))
    compared = compare_with_source(staging, source, data_ns, [], jobs)
    counts = compared.counts
    proof.documents_restored += sum(compared.restored.values())
    changes = read_changes(repo.storage, history.segments, source, target, counts.at, counts.by)
    written = restored_and_written(staging, changes, data_ns)
    judge_data(proof, changes, compared.restored, written, compared.candidates, counts)
    since_t = commanded_between(
        repo.storage, history.segments, just_after(target), written_through(source)[1]
    )
    for ns in data_ns:
        if not since_t.stable_collection(ns):
            continue  # a command changed it after T: its indexes now are not T's
        mine, theirs = indexes_of(staging, ns), indexes_of(source, ns)
        if mine != theirs:
            proof.fail("structure", f"indexes differ from the source's: {mine} vs {theirs}", ns=ns)
