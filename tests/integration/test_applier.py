"""The oplog applier against real servers, driven by real oplogs from MongoDB's tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import json_util

from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.apply.applier import Applier
from mongo_lifeboat.oplog.apply.entries import units
from mongo_lifeboat.oplog.apply.indexes import IndexCatalog

from ..support.servers import ServerPool

TXN_CASES = [
    "not transaction",
    "applyops not transaction",
    "small, unprepared",
    "large, unprepared",
    "small, prepared, committed",
    "small, prepared, aborted",
    "large, prepared, committed",
    "large, prepared, aborted",
    "large, unprepared, incomplete",
    "small, prepared, incomplete",
]


def _apply(
    client: Any, entries: list[dict[str, Any]], nsmap: NamespaceMap | None = None
) -> tuple[Applier, IndexCatalog]:
    catalog = IndexCatalog()
    applier = Applier(client, nsmap or NamespaceMap.build(), catalog)
    applier.apply(units(entries))
    catalog.build(client, applier.nsmap.target)
    return applier, catalog


def _bson_entries(path: Path) -> list[dict[str, Any]]:
    return bson.decode_all(path.read_bytes())


@pytest.mark.parametrize("case", TXN_CASES)
def test_transaction_chains_give_the_postimage(servers: ServerPool, fixtures_dir: Path, case: str) -> None:
    cases = json_util.loads((fixtures_dir / "mongorestore/testdata/transactions.json").read_text())
    spec = cases[case]
    client = servers.new().client()
    _apply(client, spec["ops"])
    db, coll = spec["ns"].split(".", 1)
    assert list(client[db][coll].find().sort("_id")) == sorted(spec["postimage"], key=lambda d: d["_id"])


def test_both_transaction_fixture_files_agree(fixtures_dir: Path) -> None:
    a = json.loads((fixtures_dir / "mongorestore/testdata/transactions.json").read_text())
    b = json.loads((fixtures_dir / "common/txn/testdata/oplog_entries.json").read_text())
    for case in set(a) & set(b):
        assert a[case]["postimage"] == b[case]["postimage"]


def test_create_and_commit_index_builds(servers: ServerPool, fixtures_dir: Path) -> None:
    client = servers.new().client()
    data = fixtures_dir / "mongorestore/testdata"
    _apply(client, _bson_entries(data / "create_indexes/oplog.bson"))
    names = {ix["name"] for ix in client.create_indexes.test.list_indexes()}
    assert "a_1" in names
    _apply(client, _bson_entries(data / "commit_indexes_build/oplog.bson"))
    assert "a_1" in {ix["name"] for ix in client.commit_index.test.list_indexes()}
    assert client.commit_index.test.count_documents({}) >= 1


def test_aborted_index_build_builds_nothing(servers: ServerPool, fixtures_dir: Path) -> None:
    client = servers.new().client()
    client.test.create_collection("skip_index_entries")
    _applier, catalog = _apply(
        client, _bson_entries(fixtures_dir / "mongorestore/testdata/oplog_ignore_index/oplog.bson")
    )
    assert [ix["name"] for ix in client.test.skip_index_entries.list_indexes()] == ["_id_"]
    assert catalog.specs("test.skip_index_entries") == []


def test_collmod_changes_index_specs_before_they_are_built(servers: ServerPool, fixtures_dir: Path) -> None:
    client = servers.new().client()
    entries = _bson_entries(fixtures_dir / "mongorestore/testdata/oplogs/bson/collMod_indexUniqueness.bson")
    expected: dict[str, dict[str, Any]] = {}
    for e in entries:  # what the entries say, worked out independently of the catalog
        o = e.get("o", {})
        if "createIndexes" in o:
            expected[o["name"]] = {k: v for k, v in o.items() if k != "createIndexes"}
        elif "collMod" in o and "index" in o:
            change = o["index"]
            expected[change["name"]].update({k: v for k, v in change.items() if k != "name"})
        elif "dropIndexes" in o:
            expected.pop(o["index"], None)
    applier = Applier(client, NamespaceMap.build(), IndexCatalog())
    applier.apply(units(entries))
    assert {s["name"]: s for s in applier.catalog.specs("mongodump_test_db.coll1")} == expected


def test_skip_lists(servers: ServerPool, fixtures_dir: Path) -> None:
    client = servers.new().client()
    entries = _bson_entries(fixtures_dir / "mongorestore/testdata/oplog_partial_skips/oplog.bson")
    _apply(client, entries)
    expected = sum(1 for e in entries if e["op"] == "i" and e["ns"] == "db3.c1")
    assert client.db3.c1.count_documents({}) == expected > 0
    assert "cache.test" not in client.config.list_collection_names()
    assert client.config["system.sessions"].count_documents({}) == 0


def test_vectored_inserts_and_validation_bypass(servers: ServerPool, fixtures_dir: Path) -> None:
    client = servers.new().client()
    base = fixtures_dir / "mongorestore/testdata/oplogs/bson"
    vectored = _bson_entries(base / "vectored_insert.bson") + _bson_entries(
        base / "linked_vectored_inserts.bson"
    )
    _apply(client, vectored)
    expected = [inner["o"] for e in vectored for inner in e["o"]["applyOps"] if inner["op"] == "i"]
    assert len(expected) > 4
    assert list(client.mongodump_test_db.coll1.find().sort("_id")) == sorted(expected, key=lambda d: d["_id"])
    client2 = servers.new().client()
    entries = _bson_entries(base / "bypassDocumentValidation.bson")
    _apply(client2, entries)
    assert client2.mongodump_test_db.coll1.count_documents({}) == sum(1 for e in entries if e["op"] == "i")


def test_drop_rename_and_drop_database_follow_the_catalog(servers: ServerPool) -> None:
    client = servers.new().client()
    ts = bson.Timestamp
    entries = [
        {"ts": ts(1, 1), "op": "c", "ns": "a.$cmd", "o": {"create": "x"}},
        {"ts": ts(1, 2), "op": "i", "ns": "a.x", "o": {"_id": 1, "v": 1}},
        {
            "ts": ts(1, 3),
            "op": "c",
            "ns": "a.$cmd",
            "o": {"createIndexes": "x", "v": 2, "key": {"v": 1}, "name": "v_1"},
        },
        {
            "ts": ts(1, 4),
            "op": "c",
            "ns": "admin.$cmd",
            "o": {"renameCollection": "a.x", "to": "a.y", "dropTarget": False},
        },
        {"ts": ts(1, 5), "op": "u", "ns": "a.y", "o": {"$v": 2, "diff": {"u": {"v": 2}}}, "o2": {"_id": 1}},
        {"ts": ts(1, 6), "op": "c", "ns": "b.$cmd", "o": {"create": "z"}},
        {"ts": ts(1, 7), "op": "i", "ns": "b.z", "o": {"_id": 1}},
        {"ts": ts(1, 8), "op": "c", "ns": "b.$cmd", "o": {"dropDatabase": 1}},
    ]
    _apply(client, entries)
    assert client.a.list_collection_names() == ["y"]
    assert list(client.a.y.find()) == [{"_id": 1, "v": 2}]
    assert {ix["name"] for ix in client.a.y.list_indexes()} == {"_id_", "v_1"}
    assert "z" not in client.b.list_collection_names()


def test_renames_map_data_indexes_and_views(servers: ServerPool) -> None:
    client = servers.new().client()
    ts = bson.Timestamp
    entries = [
        {"ts": ts(1, 1), "op": "c", "ns": "a.$cmd", "o": {"create": "x"}},
        {"ts": ts(1, 2), "op": "i", "ns": "a.x", "o": {"_id": 1, "v": 1}},
        {
            "ts": ts(1, 3),
            "op": "c",
            "ns": "a.$cmd",
            "o": {"createIndexes": "x", "indexes": [{"v": 2, "key": {"v": 1}, "name": "v_1"}]},
        },
        {"ts": ts(1, 4), "op": "c", "ns": "a.$cmd", "o": {"create": "vx", "viewOn": "x", "pipeline": []}},
        {"ts": ts(1, 5), "op": "i", "ns": "a.other", "o": {"_id": 1}},
    ]
    nsmap = NamespaceMap.build(include=["a.x", "a.vx"], ns_from=["a.*"], ns_to=["r.*_recovered"])
    _apply(client, entries, nsmap)
    assert sorted(client.r.list_collection_names()) == ["vx_recovered", "x_recovered"]
    assert "a" not in client.list_database_names()
    assert {ix["name"] for ix in client.r.x_recovered.list_indexes()} == {"_id_", "v_1"}
    view = next(client.r.list_collections(filter={"name": "vx_recovered"}))
    assert view["options"]["viewOn"] == "x_recovered"


def test_replay_is_idempotent(servers: ServerPool) -> None:
    client = servers.new().client()
    ts = bson.Timestamp
    entries = [
        {"ts": ts(1, 1), "op": "i", "ns": "a.x", "o": {"_id": 1, "v": [1, 2, 3], "d": {"k": 1}}},
        {
            "ts": ts(1, 2),
            "op": "u",
            "ns": "a.x",
            "o": {"$v": 2, "diff": {"sv": {"a": True, "u3": 4}, "sd": {"i": {"j": 2}}}},
            "o2": {"_id": 1},
        },
        {"ts": ts(1, 3), "op": "i", "ns": "a.x", "o": {"_id": 2}},
        {"ts": ts(1, 4), "op": "d", "ns": "a.x", "o": {"_id": 2}},
        {"ts": ts(1, 5), "op": "d", "ns": "a.x", "o": {"_id": 99}},
        {
            "ts": ts(1, 6),
            "op": "u",
            "ns": "a.x",
            "o": {"$v": 2, "diff": {"u": {"gone": 1}}},
            "o2": {"_id": 98},
        },
    ]
    _apply(client, entries)
    first = list(client.a.x.find())
    _apply(client, entries)
    assert list(client.a.x.find()) == first == [{"_id": 1, "v": [1, 2, 3, 4], "d": {"k": 1, "j": 2}}]
