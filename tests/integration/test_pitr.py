"""Acceptance (issue 3): point-in-time restore from a base backup and the archived oplog."""

from __future__ import annotations

import random
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import History, load_history, scan_incidents
from mongo_lifeboat.catalog.points import Point, resolve
from mongo_lifeboat.demo import workload
from mongo_lifeboat.errors import IntegrityError, NotRestorable, UsageError
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.capture.sources import Capture
from mongo_lifeboat.oplog.segments import iter_entries
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import plan_pitr
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.timestamps import just_before, to_str
from mongo_lifeboat.verify.compare import summarize
from mongo_lifeboat.verify.integrity import verify_segments

from ..support.archiving import archiving
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool

DOCS = 800


def _restore_to(
    repo: Repository, history: History, spec: str, target: Any, nsmap: NamespaceMap | None = None
) -> Timestamp:
    stop_before = resolve(Point.parse(spec), history, repo.storage)
    plan = plan_pitr(
        history.manifests, history.timeline, history.segments, stop_before, nsmap or NamespaceMap.build()
    )
    run_restore(repo, plan.base, target, RestoreOptions(), pitr=plan)
    return stop_before


def _oracle(
    servers: ServerPool, log: list[workload.LoggedOp], src: Any, before: Timestamp, extra: Any = None
) -> Any:
    oracle = servers.new().client()
    workload.seed(oracle, DOCS)
    workload.replay(oracle, log, lambda ts: ts < before, source=src)
    if extra:
        extra(oracle)
    return oracle


@pytest.fixture
def scenario(request: pytest.FixtureRequest, seeded_source: SeededSource, repo: Repository) -> dict[str, Any]:
    """Seed, back up, archive while a writer writes, an accidental bulk delete, more writes.
    Captured from the oplog, or from a change stream where a test asks (``indirect``)."""
    capture = getattr(request, "param", "oplog")
    source = seeded_source(DOCS)
    src = source.client()
    run_backup(repo, BackupOptions(source.uri, capture=capture))
    with archiving(repo, source.uri, capture=capture):
        first = workload.Writer(src, DOCS, rng_seed=3, max_ops=300).start()
        first.ops_done.wait()
        log = first.stop()
        deleted = src.shop.orders.delete_many({"qty": {"$lt": 70}}).deleted_count
        src.shop.Customers.update_many({}, {"$set": {"after": True}})  # life goes on after the mistake
    return {"source": source, "src": src, "log": log, "deleted": deleted}


@pytest.mark.parametrize("scenario", ["oplog", "change-stream"], indirect=True)
def test_restore_just_before_the_bulk_delete_that_incidents_reports(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any]
) -> None:
    history = load_history(repo)
    found = [i for i in scan_incidents(repo, history) if i.kind == "bulk-delete" and i.ns == "shop.orders"]
    assert len(found) == 1
    incident = found[0]
    # The run may begin with a few of the writer's own deletes just before the delete_many.
    assert scenario["deleted"] <= incident.count <= scenario["deleted"] + 20 and scenario["deleted"] > 100
    target = servers.new().client()
    stop_before = _restore_to(repo, history, incident.id, target)
    assert stop_before == incident.ts
    oracle = _oracle(servers, scenario["log"], scenario["src"], stop_before)
    assert_same(target, oracle)
    assert target.shop.orders.count_documents({"qty": {"$lt": 70}}) >= scenario["deleted"]


def test_restore_to_random_points_equals_the_oracle(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any]
) -> None:
    history = load_history(repo)
    window = history.timeline.windows[-1]
    # The oracle knows the writer's operations, not the bulk delete: stay before its first entry.
    disaster = next(i for i in scan_incidents(repo, history) if i.kind == "bulk-delete").ts
    archived = [
        e["ts"] for e in iter_entries(repo.storage, history.segments) if window.start < e["ts"] < disaster
    ]
    rng = random.Random(42)
    points = sorted(rng.sample(archived, 3))
    for point in points:
        target = servers.new().client()
        _restore_to(repo, history, to_str(point), target)
        assert_same(target, _oracle(servers, scenario["log"], scenario["src"], point))


def test_selective_restore_beside_the_live_collection(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any]
) -> None:
    history = load_history(repo)
    incident = next(i for i in scan_incidents(repo, history) if i.kind == "bulk-delete")
    src = scenario["src"]
    nsmap = NamespaceMap.build(
        include=["shop.orders"], ns_from=["shop.orders"], ns_to=["shop.orders_recovered"]
    )
    stop_before = _restore_to(repo, history, incident.id, src, nsmap)  # into the live source itself
    recovered = summarize(src)["shop.orders_recovered"]
    expected = summarize(_oracle(servers, scenario["log"], src, stop_before))["shop.orders"]
    assert (recovered.count, recovered.content_hash, recovered.indexes) == (
        expected.count,
        expected.content_hash,
        expected.indexes,
    )
    assert src.shop.orders.count_documents({"qty": {"$lt": 70}}) == 0  # the live one is untouched


@pytest.mark.parametrize("scenario", ["oplog", "change-stream"], indirect=True)
def test_restore_to_latest_equals_the_source(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any]
) -> None:
    history = load_history(repo)
    target = servers.new().client()
    _restore_to(repo, history, "latest", target)
    assert_same(target, scenario["src"])


def test_points_outside_the_windows_are_refused_before_writing(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any]
) -> None:
    history = load_history(repo)
    first = history.timeline.windows[0]
    target = servers.new().client()
    for spec in [
        to_str(just_before(first.start)),  # (the start itself is the base backup's own point)
        "2001-01-01T00:00:00Z",
        to_str(Timestamp(history.timeline.windows[-1].end.time + 3600, 0)),
    ]:
        with pytest.raises(NotRestorable, match=r"restorable windows: \d+-"):
            _restore_to(repo, history, spec, target)
    with pytest.raises(UsageError, match="cannot read the point in time"):
        Point.parse("yesterday at noon")
    assert set(target.list_database_names()) <= {"admin", "config", "local"}


def test_corrupt_or_missing_segment(
    servers: ServerPool, repo: Repository, scenario: dict[str, Any], tmp_path: Any
) -> None:
    history = load_history(repo)
    deployment = history.deployment
    assert verify_segments(repo.storage, deployment).ok
    assert len(history.segments) >= 3, "the scenario must archive a segment with others on both sides"
    victim = history.segments[len(history.segments) // 2]
    path = tmp_path / "repo" / victim.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))
    report = verify_segments(repo.storage, deployment)
    assert [p["object"] for p in report.problems] == [victim.key]
    target = servers.new().client()
    with pytest.raises(IntegrityError, match="nothing was written"):
        _restore_to(repo, history, "latest", target)
    assert set(target.list_database_names()) <= {"admin", "config", "local"}
    path.unlink()
    report = verify_segments(repo.storage, deployment)
    assert any("missing segment" in p["problem"] for p in report.problems)
    # The timeline now stops at the hole, and a restore past it is refused.
    with pytest.raises(NotRestorable):
        _restore_to(repo, load_history(repo), to_str(history.timeline.windows[-1].end), target)


@pytest.mark.parametrize("capture", ["oplog", "change-stream"])
def test_transactions_are_replayed_whole(servers: ServerPool, repo: Repository, capture: Capture) -> None:
    source = servers.new()
    src = source.client()
    src.bank.accounts.insert_many([{"_id": i, "balance": 100} for i in range(10)])
    run_backup(repo, BackupOptions(source.uri, capture=capture))
    with archiving(repo, source.uri, capture=capture):
        with src.start_session() as s, s.start_transaction():
            src.bank.accounts.update_one({"_id": 1}, {"$inc": {"balance": -30}}, session=s)
            src.bank.accounts.update_one({"_id": 2}, {"$inc": {"balance": 30}}, session=s)
        src.bank.accounts.insert_one({"_id": "marker"})
    history = load_history(repo)
    entries = list(iter_entries(repo.storage, history.segments))
    txn_ts = {e["ts"] for e in entries if e.get("txnNumber") is not None or "applyOps" in e.get("o", {})}
    assert txn_ts, "the transaction must be in the archive"
    commit = max(txn_ts)
    target = servers.new().client()
    _restore_to(repo, history, to_str(commit), target)  # just before the commit: neither half
    assert [d["balance"] for d in target.bank.accounts.find({"_id": {"$in": [1, 2]}}).sort("_id", 1)] == [
        100,
        100,
    ]
    target2 = servers.new().client()
    _restore_to(repo, history, to_str(Timestamp(commit.time, commit.inc + 1)), target2)  # both halves
    assert [d["balance"] for d in target2.bank.accounts.find({"_id": {"$in": [1, 2]}}).sort("_id", 1)] == [
        70,
        130,
    ]
