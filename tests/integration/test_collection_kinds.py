"""Collection options, views, time series, and users survive a backup and restore."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.errors import RestoreFailed
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool


def test_options_views_and_time_series_round_trip(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    src = source.client()
    db = src.kinds
    db.create_collection(
        "validated", validator={"$jsonSchema": {"required": ["a"]}}, validationAction="error"
    )
    db.create_collection("capped", capped=True, size=1 << 20, max=1000)
    db.create_collection("french", collation={"locale": "fr", "strength": 1})
    db.create_collection("metrics", timeseries={"timeField": "t", "metaField": "m", "granularity": "seconds"})
    db.validated.insert_many([{"a": i} for i in range(50)])
    db.capped.insert_many([{"i": i} for i in range(50)])
    db.french.insert_many([{"w": w} for w in ("été", "ete", "Été")])
    db.french.create_index("w", unique=False, collation={"locale": "fr", "strength": 2})
    base = datetime(2026, 11, 24, 2, 0, 0)
    db.metrics.insert_many(
        [{"t": base + timedelta(seconds=i), "m": {"host": f"h{i % 3}"}, "v": i} for i in range(60)]
    )
    db.create_collection("recent", viewOn="metrics", pipeline=[{"$match": {"v": {"$gte": 30}}}])
    manifest = run_backup(repo, BackupOptions(source.uri))
    types = {c.name: c.type for c in manifest.collections if c.db == "kinds"}
    assert types["recent"] == "view"
    target = servers.new().client()
    run_restore(repo, plan_restore(manifest, NamespaceMap.build()), target, RestoreOptions())
    assert_same(target, src)
    options = {c["name"]: c.get("options", {}) for c in target.kinds.list_collections()}
    assert options["capped"]["capped"] is True and options["capped"]["max"] == 1000
    assert options["metrics"]["timeseries"]["timeField"] == "t"
    assert "$jsonSchema" in options["validated"]["validator"]


def test_with_users_is_explicit_when_credentials_cannot_be_restored(
    servers: ServerPool, repo: Repository
) -> None:
    source = servers.new()
    src = source.client()
    src.app.items.insert_one({"_id": 1})
    src.admin.command("createUser", "reporter", pwd="s3cret-pw", roles=[{"role": "read", "db": "app"}])
    manifest = run_backup(repo, BackupOptions(source.uri))
    assert "admin.system.users" in {c.ns for c in manifest.collections}
    target = servers.new().client()
    plan = plan_restore(manifest, NamespaceMap.build(), with_users=True)
    try:
        run_restore(repo, plan, target, RestoreOptions())
    except RestoreFailed as e:
        # Servers without _mergeAuthzCollections cannot take stored credentials: say so.
        assert "admin.reporter" in e.message and "not restored" in e.message
        assert "s3cret" not in e.message
    else:
        users = target.admin.command("usersInfo", {"user": "reporter", "db": "admin"})["users"]
        assert [u["user"] for u in users] == ["reporter"]
    assert target.app.items.count_documents({}) == 1
    # Without --with-users, users are left alone entirely.
    target2 = servers.new().client()
    run_restore(repo, plan_restore(manifest, NamespaceMap.build()), target2, RestoreOptions())
    assert target2.admin.command("usersInfo")["users"] == []


@pytest.mark.slow
def test_demo_proves_its_restore() -> None:
    result = lifeboat("demo", "--docs", "300", "--json", timeout=600)
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["equal"] is True and data["differences"] == []
    assert data["collections_compared"] >= 5
    assert data["incident"]["kind"] == "bulk-delete" and data["incident"]["ns"] == "shop.orders"
    assert data["segments"] > 0 and data["writes_during_backup"] >= 0
    assert set(data["timings_s"]) == {"seed", "backup", "archive", "recover", "prove", "undo", "drill+check"}
    # The 2 AM story ends with undo --apply while new orders arrive, proven against the restore.
    assert data["undo_equal"] is True and data["undo"]["conflicts"] == []
    assert data["undo"]["written"] == data["incident"]["count"] == data["undo"]["affected"]
    # ... and with a drill that passes and a check of the demo's plan, which finds what a demo lacks.
    assert data["drill"]["verdict"] == "pass" and data["drill"]["documents_compared"] > 0
    statuses = {c["id"]: c["status"] for c in data["check"]["checks"]}
    assert statuses["drill-age"] == "ok" and statuses["cross-region"] == statuses["alerts"] == "critical"
    # Nothing is left behind: the demo's repository goes with it unless --keep names a place.
    assert data["repository_kept"] is False
    assert not Path(data["repository"].removeprefix("file://")).exists()
