"""Acceptance (issue 10): incidents to the exact entry under other clients' traffic, incident
ids that must name a real incident, and ``lifeboat undo`` of a bulk delete, a bulk update and
a drop while the traffic goes on, proven against an independent oracle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history, scan_incidents
from mongo_lifeboat.catalog.points import Point, resolve
from mongo_lifeboat.demo import workload
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.incidents import Incident
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import plan_pitr
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.timestamps import to_str

from ..support.archiving import archiving, wait_archived
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool
from ..support.traffic import Oracle, Traffic, logs_sessions

DOCS = 2500
ORDERS = "shop.orders"
DROPPED = f"analytics.{workload.LONG_NAME}"
TRAFFIC = [ORDERS, "shop.Customers", "analytics.Événements clients"]


def _first_entry(src: Any, op: workload.LoggedOp, victims: set[Any], kind: str) -> tuple[Timestamp, int]:
    """From the source's own oplog: the bulk operation's first entry and its entry count."""
    query = {"ns": op.ns, "op": kind, "ts": {"$gt": op.ts_before, "$lte": op.ts_after}}
    mine = [e["ts"] for e in src.local["oplog.rs"].find(query) if (e.get("o2") or e["o"])["_id"] in victims]
    return min(mine), len(mine)


def _bulk(
    traffic: Traffic, src: Any, sessions: bool, kind: str, args: dict[str, Any]
) -> tuple[workload.LoggedOp, set[Any]]:
    if not sessions:
        traffic.hold(ORDERS)
    victims = {d["_id"] for d in src.shop.orders.find(args["filter"], {"_id": 1})}
    op = traffic.run_logged(kind, ORDERS, args)
    traffic.release(ORDERS)
    return op, victims


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pool = ServerPool()
    repo = Repository.init("file://" + str(tmp_path_factory.mktemp("undo") / "repo"))
    try:
        source = pool.new()
        src = source.client()
        workload.seed(src, DOCS)
        sessions = logs_sessions(src)
        run_backup(repo, BackupOptions(source.uri))
        env = {"LIFEBOAT_REPO": repo.url, "LIFEBOAT_SOURCE_URI": source.uri}
        ids = {ns: list(range(DOCS)) for ns in TRAFFIC}
        with archiving(repo, source.uri):
            traffic = Traffic(src, ids).start()
            traffic.wait_ops(40)
            delete, deleted = _bulk(traffic, src, sessions, "delete_many", {"filter": {"qty": {"$lt": 45}}})
            traffic.forget(deleted)
            traffic.wait_ops(20)
            # Deliberate conflicts: two deleted orders written again after the accident.
            a, b, c = sorted(deleted)[:3]
            traffic.run_logged("insert_one", ORDERS, {"doc": {"_id": a, "qty": 7, "name": "re-created-a"}})
            traffic.run_logged("insert_one", ORDERS, {"doc": {"_id": b, "qty": 8, "name": "re-created-b"}})
            traffic.run_logged("update_one", ORDERS, {"filter": {"_id": a}, "update": {"$set": {"qty": 9}}})
            traffic.run_logged("delete_one", ORDERS, {"filter": {"_id": b}})
            traffic.run_logged(
                "update_one", ORDERS, {"filter": {"_id": c}, "update": {"$set": {"qty": 1}}}
            )  # no-op
            traffic.wait_ops(20)
            update, updated = _bulk(
                traffic,
                src,
                sessions,
                "update_many",
                {
                    "filter": {"grp": 3, "qty": {"$gte": 45}},
                    "update": {"$set": {"oops": True}, "$inc": {"qty": 1000}},
                },
            )
            traffic.wait_ops(15)  # the traffic may write some of them again: natural conflicts
            traffic.forget(updated)
            traffic.wait_ops(20)
            doomed = src.analytics[workload.LONG_NAME]
            # Changed since the base backup: what the drop took is more than what the backup holds.
            traffic.run_logged(
                "insert_many", DROPPED, {"docs": [{"_id": f"late-{i}", "at": i} for i in range(5)]}
            )
            traffic.run_logged("delete_one", DROPPED, {"filter": {"_id": "late-0"}})
            traffic.run_logged("create_index", DROPPED, {"keys": [("late_field", 1)], "name": "late_field_1"})
            dropped = {"documents": doomed.count_documents({}), "indexes": sorted(doomed.index_information())}
            doomed.drop()
            traffic.wait_ops(20)
            newest = src.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1).next()["ts"]
            wait_archived(repo, newest)

            history = load_history(repo)
            found = scan_incidents(repo, history)
            by_kind = {i.kind: i for i in found}
            assert sorted(by_kind) == ["bulk-delete", "bulk-update", "drop"], found
            undo_delete = lifeboat(
                "undo",
                by_kind["bulk-delete"].id,
                "--apply",
                "--json",
                env={**env, "LIFEBOAT_FAULT": "undo-batch-written:1"},
            )
            rerun = lifeboat("undo", by_kind["bulk-delete"].id, "--apply", "--json", env=env)
            dry = lifeboat("undo", by_kind["bulk-update"].id, "--dry-run", "--json", env=env)
            side = lifeboat("undo", by_kind["bulk-update"].id, "--into", "orders_before", "--json", env=env)
            undo_update = lifeboat("undo", by_kind["bulk-update"].id, "--apply", "--json", env=env)
            undo_drop = lifeboat("undo", by_kind["drop"].id, "--apply", "--json", env=env)
            traffic.wait_ops(20)  # life goes on after the undo
            log = traffic.stop()
        yield {
            "pool": pool,
            "repo": repo,
            "source": source,
            "src": src,
            "env": env,
            "log": log,
            "delete": delete,
            "deleted": deleted,
            "update": update,
            "updated": updated,
            "found": found,
            "by_kind": by_kind,
            "dropped": dropped,
            "history": load_history(repo),
            "runs": {
                "killed": undo_delete,
                "rerun": rerun,
                "dry": dry,
                "side": side,
                "update": undo_update,
                "drop": undo_drop,
            },
        }
    finally:
        pool.close()


def test_incidents_start_at_the_bulk_operations_own_first_entry_with_its_own_count(
    story: dict[str, Any],
) -> None:
    src, by_kind = story["src"], story["by_kind"]
    first, count = _first_entry(src, story["delete"], story["deleted"], "d")
    assert count == len(story["deleted"]) >= 1000
    assert (by_kind["bulk-delete"].ts, by_kind["bulk-delete"].count, by_kind["bulk-delete"].ns) == (
        first,
        count,
        ORDERS,
    )
    first, count = _first_entry(src, story["update"], story["updated"], "u")
    assert count == len(story["updated"]) >= 100
    assert (by_kind["bulk-update"].ts, by_kind["bulk-update"].count) == (first, count)
    assert by_kind["drop"].ns == DROPPED
    assert [i.kind for i in story["found"]] == [
        "bulk-delete",
        "bulk-update",
        "drop",
    ]  # the traffic is no incident


@pytest.mark.parametrize("kind", ["bulk-delete", "bulk-update"])
def test_restore_to_an_incident_equals_the_traffic_replayed_strictly_before_it(
    story: dict[str, Any], kind: str
) -> None:
    incident: Incident = story["by_kind"][kind]
    repo, history = story["repo"], story["history"]
    stop_before = resolve(Point.parse(incident.id), history, repo.storage)
    assert stop_before == incident.ts
    plan = plan_pitr(history.manifests, history.timeline, history.segments, stop_before, NamespaceMap.build())
    target = story["pool"].new().client()
    run_restore(repo, plan.base, target, RestoreOptions(), pitr=plan)
    oracle = Oracle(story["pool"].new().client(), DOCS)
    oracle.replay_before(story["log"], stop_before, story["src"])
    assert_same(target, oracle.client)


def test_undo_puts_back_what_the_incidents_destroyed_and_keeps_every_later_write(
    story: dict[str, Any],
) -> None:
    runs = story["runs"]
    assert runs["killed"].code == -9, runs["killed"].stderr  # SIGKILLed after its first batch
    for name in ("rerun", "dry", "side", "update", "drop"):
        assert runs[name].code == 0, (name, runs[name].stderr)
    oracle = Oracle(story["pool"].new().client(), DOCS)
    oracle.replay_undoing(story["log"], [story["delete"], story["update"]])
    # The live deployment after the undos (run while the traffic kept writing) equals the
    # traffic's whole log with both bulk operations undone, and the dropped collection back.
    live = story["source"].client()
    live.shop.drop_collection("orders_before")  # the side collection, checked below
    assert_same(live, oracle.client)

    rerun = runs["rerun"].json()
    expected = oracle.conflicts[id(story["delete"])]
    assert set(rerun["conflicts"]) == expected and len(expected) == 2  # the two re-created orders
    assert rerun["written"] + rerun["already_restored"] == len(story["deleted"]) - 2
    assert rerun["already_restored"] == 1000  # the killed run's first batch, recognised as done
    update = runs["update"].json()
    assert set(update["conflicts"]) == oracle.conflicts[id(story["update"])]
    assert update["written"] == len(story["updated"]) - len(update["conflicts"])


def test_undo_dry_run_and_side_collection(story: dict[str, Any]) -> None:
    dry, side = story["runs"]["dry"].json(), story["runs"]["side"].json()
    assert dry["dry_run"] and dry["affected"] == len(story["updated"])
    assert dry["destination"] == ["shop.orders_undo_" + story["by_kind"]["bulk-update"].id[4:]]
    assert side["destination"] == ["shop.orders_before"] and not side["dry_run"]
    assert side["written"] == dry["written"] == len(story["updated"]) - len(side["conflicts"])
    drop = story["runs"]["drop"].json()
    assert drop["destination"] == [DROPPED] and drop["written"] == DOCS


def test_a_made_up_incident_id_is_refused_listing_the_real_ones(story: dict[str, Any]) -> None:
    real: Incident = story["by_kind"]["bulk-delete"]
    inside = Timestamp(real.ts.time, real.ts.inc + 7)  # a position inside the burst
    fake = "inc-" + f"{inside.time:08x}{inside.inc:08x}"
    for args in (
        ("restore", "--to", fake, "--target", "mongodb://127.0.0.1:9", "--dry-run"),
        ("undo", fake, "--dry-run"),
    ):
        res = lifeboat(*args, env=story["env"])
        assert res.code == 2, res.stderr
        assert fake in res.error_lines[0] and real.id in res.error_lines[0]
    ok = lifeboat("restore", "--to", to_str(inside), "--dry-run", "--json", env=story["env"])
    assert ok.code == 0, ok.stderr
    assert ok.json()["restore_to"] == to_str(inside)


def test_incidents_cli_lists_undo(story: dict[str, Any]) -> None:
    res = lifeboat("incidents", "--json", env={"LIFEBOAT_REPO": story["repo"].url})
    assert res.code == 0, res.stderr
    data = res.json()
    assert [(i["kind"], i["count"]) for i in data][:2] == [
        ("bulk-delete", len(story["deleted"])),
        ("bulk-update", len(story["updated"])),
    ]
    assert data[0]["undo_with"] == f"lifeboat undo {data[0]['id']}"
    # A drop shows what it took at the time (from the base backup and the archive since).
    drop = next(i for i in data if i["kind"] == "drop")
    assert drop["dropped"]["documents"] == drop["count"] == story["dropped"]["documents"] > 0
    assert drop["dropped"]["indexes"] == story["dropped"]["indexes"]
    text = lifeboat("incidents", env={"LIFEBOAT_REPO": story["repo"].url})
    assert f"{story['dropped']['documents']} docs, {len(story['dropped']['indexes'])} indexes" in text.stdout


def test_summary_line_of_undo(story: dict[str, Any]) -> None:
    res = lifeboat("undo", story["by_kind"]["bulk-delete"].id, "--dry-run", env=story["env"])
    assert res.code == 0, res.stderr
    n = len(story["deleted"])
    # The live collection has them all back (the undos above): a dry run says it would write none.
    assert f"nothing to write: {n - 2:,} of {n:,} deleted orders are back already" in res.stdout
    assert "2 conflicts" in res.stdout
