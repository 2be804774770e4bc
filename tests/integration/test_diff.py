"""Acceptance (issue 24, diff): what changed between two markers, from the archive alone, equals
what the test's own writer did between them (counts and ids), across segment boundaries; a gap
in the archive inside the window is reported, and nothing in it is guessed at."""

from __future__ import annotations

from typing import Any

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import just_after, to_str

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.cli import lifeboat
from ..support.servers import ServerPool


def test_diff_between_two_markers_equals_the_writers_log(servers: ServerPool, tmp_path: Any) -> None:
    source = servers.new()
    src = source.client()
    shop = src.shop
    shop.orders.insert_many([{"_id": i, "qty": i, "pad": "x" * 50} for i in range(200)])
    shop.tmp.insert_one({"_id": 1})
    shop.old.insert_one({"_id": 1})
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri, segment_bytes=2048):
        shop.orders.update_many({"_id": {"$lt": 5}}, {"$set": {"before": True}})  # before the window
        start = just_after(newest_ts(src))
        expected: dict[str, set[Any]] = {
            "inserted": set(),
            "updated": set(),
            "deleted": set(),
            "transient": set(),
        }
        shop.orders.insert_many([{"_id": 1000 + i, "qty": i} for i in range(30)])
        expected["inserted"] |= {1000 + i for i in range(30)}
        for i in range(40):
            shop.orders.update_one({"_id": i}, {"$inc": {"qty": 1}})
        expected["updated"] |= set(range(40))
        shop.orders.delete_many({"_id": {"$gte": 100, "$lt": 120}})
        expected["deleted"] |= set(range(100, 120))
        shop.orders.insert_many([{"_id": 2000 + i} for i in range(5)])
        shop.orders.delete_many({"_id": {"$gte": 2000}})
        expected["transient"] |= {2000 + i for i in range(5)}
        shop.orders.update_many({"_id": {"$gte": 150, "$lt": 155}}, {"$set": {"gone_soon": True}})
        shop.orders.delete_many({"_id": {"$gte": 150, "$lt": 155}})
        expected["deleted"] |= set(range(150, 155))
        shop.orders.insert_many([{"_id": 3000 + i} for i in range(3)])
        shop.orders.update_many({"_id": {"$gte": 3000}}, {"$set": {"later": 1}})
        expected["inserted"] |= {3000, 3001, 3002}
        shop.orders.replace_one({"_id": 60}, {"qty": -1})
        expected["updated"].add(60)
        shop.orders.create_index("qty", name="qty_1")
        shop.create_collection("new")
        src.admin.command("renameCollection", "shop.tmp", to="shop.tmp2")
        shop.drop_collection("old")
        end = just_after(newest_ts(src))
        shop.orders.update_many({"_id": {"$gte": 60, "$lt": 70}}, {"$set": {"after": True}})  # after it
        wait_archived(repo, newest_ts(src))

    res = lifeboat(
        "diff", "--from", to_str(start), "--to", to_str(end), "--ids", "--repo", repo.url, "--json"
    )
    assert res.code == 0, res.stderr
    out = res.json()
    orders = out["namespaces"]["shop.orders"]
    assert {k: set(orders["ids"].get(k, [])) for k in expected} == expected
    assert {k: orders[k] for k in expected} == {k: len(v) for k, v in expected.items()}
    assert orders["indexes_created"] == ["qty_1"]
    assert out["namespaces"]["shop.new"]["collections_created"] == ["shop.new"]
    assert out["namespaces"]["shop.tmp"]["renamed"] == [{"to": "shop.tmp2"}]
    assert out["namespaces"]["shop.old"]["collections_dropped"] == ["shop.old"]
    assert [i["kind"] for i in out["incidents"]] == ["drop"] and out["gaps"] == []
    assert out["segments_read"] >= 3  # the window crosses segment boundaries

    # A segment of the window lost: the gap is named, and nothing it held is counted.
    segments = [
        s
        for s in list_segments(repo.storage, load_history(repo).deployment)
        if s.start >= start and s.end < end
    ]
    assert len(segments) >= 3
    lost = segments[len(segments) // 2]
    repo.storage.delete([lost.key])
    again = lifeboat(
        "diff", "--from", to_str(start), "--to", to_str(end), "--ids", "--repo", repo.url, "--json"
    )
    assert again.code == 0, again.stderr
    gapped = again.json()
    assert [(g["start"], g["end"]) for g in gapped["gaps"]] == [(to_str(lost.start), to_str(lost.end))]
    seen = {k: set(gapped["namespaces"]["shop.orders"]["ids"].get(k, [])) for k in expected}
    assert sum(map(len, seen.values())) < sum(map(len, expected.values()))
    assert set().union(*seen.values()) <= set().union(*expected.values())
