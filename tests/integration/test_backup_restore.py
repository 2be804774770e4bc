"""Acceptance: a backup taken under writes restores to exactly the source state at end_ts."""

from __future__ import annotations

from typing import Any

import bson
import pytest
from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.errors import TargetNotEmpty
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.capture.sources import Capture
from mongo_lifeboat.repo.manifest import Manifest
from mongo_lifeboat.repo.objects import read_verified
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.verify.compare import summarize

from ..support.data import assert_same, stream_shows
from ..support.servers import ServerPool

DOCS = 3000


def _backup_under_writes(
    servers: ServerPool, repo: Repository, capture: Capture = "oplog"
) -> tuple[Any, Manifest, list[workload.LoggedOp]]:
    source = servers.new()
    src = source.client()
    workload.seed(src, DOCS)
    writer = workload.Writer(src, DOCS).start()
    while len(writer.log) < 60 and not writer.ops_done.is_set():
        writer.ops_done.wait(0.01)
    # Small chunks and two jobs: several data files per collection, loaded in parallel.
    manifest = run_backup(repo, BackupOptions(source.uri, jobs=2, chunk_bytes=256 << 10, capture=capture))
    log = writer.stop()
    return src, manifest, log


def _oracle(servers: ServerPool, log: list[workload.LoggedOp], src: Any, included: Any) -> MongoClient[Any]:
    oracle = servers.new().client()
    workload.seed(oracle, DOCS)
    workload.replay(oracle, log, included, source=src)
    return oracle


@pytest.mark.parametrize("capture", ["oplog", "change-stream"])
def test_backup_under_writes_restores_exactly_to_end_ts(
    servers: ServerPool, repo: Repository, capture: Capture
) -> None:
    src, manifest, log = _backup_under_writes(servers, repo, capture)
    end = manifest.end
    during = [op for op in log if manifest.start < op.ts_after <= end]
    kinds = {op.kind for op in log}
    # The test is only meaningful if writes really overlapped the backup, of every kind.
    assert len(during) > 0 and manifest.oplog.entries > 0
    assert {"insert_one", "update_one", "replace_one", "delete_one", "update_many", "create_index"} <= kinds
    assert any(op.ts_after > end for op in log), "the writer must also write after end_ts"
    assert any(len(c.files) > 1 for c in manifest.collections), "chunking must split a collection"
    # The bracket holds exactly the source's oplog entries in (start_ts, end_ts], in order;
    # from a change stream, exactly the writes it shows there.
    captured = bson.decode_all(read_verified(repo.storage, manifest.oplog.file))
    expected = list(
        src.local["oplog.rs"].find({"ts": {"$gt": manifest.start, "$lte": end}}).sort("$natural", 1)
    )
    assert manifest.oplog.capture == capture
    if capture == "oplog":
        assert [(e["ts"], e["op"], e.get("ns")) for e in captured] == [
            (e["ts"], e["op"], e.get("ns")) for e in expected
        ]
    else:
        assert stream_shows(captured) == stream_shows(expected) and manifest.end_entry_sha256 is None

    target = servers.new().client()
    report = run_restore(repo, plan_restore(manifest, NamespaceMap.build()), target, RestoreOptions(jobs=3))
    assert report.documents == manifest.documents
    oracle = _oracle(servers, log, src, lambda ts: ts <= end)
    compared = assert_same(target, oracle)
    assert compared == len(workload.COLLECTIONS) + 1  # + the view
    names = set(summarize(target))
    assert f"analytics.{workload.LONG_NAME}" in names and "analytics.Événements clients" in names
    assert "shop.Customers" in names


def test_selective_restore_with_rename(servers: ServerPool, repo: Repository) -> None:
    src, manifest, log = _backup_under_writes(servers, repo)
    target = servers.new().client()
    nsmap = NamespaceMap.build(
        include=["shop.orders"], ns_from=["shop.orders"], ns_to=["shop.orders_recovered"]
    )
    run_restore(repo, plan_restore(manifest, nsmap), target, RestoreOptions())
    assert set(target.list_database_names()) - {"admin", "config", "local"} == {"shop"}
    assert target.shop.list_collection_names() == ["orders_recovered"]
    oracle = _oracle(servers, log, src, lambda ts: ts <= manifest.end)
    restored = summarize(target)["shop.orders_recovered"]
    expected = summarize(oracle)["shop.orders"]
    assert (restored.count, restored.content_hash, restored.indexes, restored.options) == (
        expected.count,
        expected.content_hash,
        expected.indexes,
        expected.options,
    )


def test_non_empty_target_is_refused_and_drop_replaces_only_restored_namespaces(
    servers: ServerPool, repo: Repository
) -> None:
    source = servers.new()
    src = source.client()
    workload.seed(src, 200)
    manifest = run_backup(repo, BackupOptions(source.uri))
    target = servers.new().client()
    target.shop.orders.insert_one({"_id": "stale"})
    target.keep.me.insert_one({"_id": 1})
    plan = plan_restore(manifest, NamespaceMap.build())
    with pytest.raises(TargetNotEmpty, match=r"shop\.orders"):
        run_restore(repo, plan, target, RestoreOptions())
    assert target.shop.orders.count_documents({}) == 1  # nothing was written
    run_restore(repo, plan, target, RestoreOptions(drop=True))
    assert target.shop.orders.find_one({"_id": "stale"}) is None
    assert target.keep.me.count_documents({}) == 1
    target.drop_database("keep")
    assert_same(target, src)
