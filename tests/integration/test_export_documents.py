"""Acceptance (issue 24, export): one namespace as it was at a moment, as JSON lines that
round-trip through relaxed Extended JSON (dates, ObjectIds, decimals, binary kept) and as CSV,
checked against the source's own documents read at that moment (the oracle)."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

import bson
from bson import Binary, Decimal128, Int64, ObjectId, json_util

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import just_after, to_str

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.cli import lifeboat
from ..support.servers import ServerPool


def _item(i: int) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "qty": i,
        "big": Int64(2**40 + i),
        "price": Decimal128(f"{i}.25"),
        "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i),
        "blob": Binary(bytes([i % 256]) * 4, 0),
        "name": f'item, "{i}"',  # a comma and quotes: CSV must quote them
        "sub": {"tags": ["a", i]},
    }


def test_a_namespace_at_a_moment_as_jsonl_and_csv(servers: ServerPool, tmp_path: Any) -> None:
    source = servers.new()
    src = source.client()
    items = src.shop.items
    items.insert_many([_item(i) for i in range(60)])
    src.shop.other.insert_one({"_id": 1})
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri):
        items.update_many({"qty": {"$lt": 10}}, {"$set": {"qty": 100}, "$push": {"sub.tags": "changed"}})
        items.delete_many({"qty": {"$gte": 50, "$lt": 60}})
        items.insert_many([_item(i) for i in range(200, 205)])
        at = just_after(newest_ts(src))
        oracle = {d["_id"]: d for d in items.find()}  # the state at the moment
        items.delete_many({})  # after it: not in the export
        wait_archived(repo, newest_ts(src))

    run = ["--to", to_str(at), "--ns", "shop.items", "--repo", repo.url]
    res = lifeboat("export", *run, "--format", "jsonl", "--out", str(tmp_path / "items.jsonl"), "--json")
    assert res.code == 0, res.stderr
    assert res.json()["documents"] == len(oracle) and res.json()["restored_to"] == to_str(at)
    lines = (tmp_path / "items.jsonl").read_text().splitlines()
    got = [json_util.loads(line) for line in lines]
    assert {d["_id"]: d for d in got} == oracle
    for d in got:  # the types a spreadsheet tool loses, kept
        assert isinstance(d["_id"], ObjectId) and isinstance(d["price"], Decimal128)
        assert isinstance(d["at"], dt.datetime) and isinstance(d["blob"], bytes | Binary)

    canonical = tmp_path / "canonical.jsonl"
    res = lifeboat(
        "export",
        *run,
        "--format",
        "jsonl",
        "--canonical",
        "--query",
        '{"qty": {"$gte": 100}}',
        "--out",
        str(canonical),
    )
    assert res.code == 0, res.stderr
    exact = [json_util.loads(line) for line in canonical.read_text().splitlines()]
    expected = [d for d in oracle.values() if d["qty"] >= 100]
    assert sorted(bson.encode(d) for d in exact) == sorted(bson.encode(d) for d in expected)  # byte for byte

    res = lifeboat(
        "export",
        *run,
        "--format",
        "csv",
        "--fields",
        "_id,qty,name,sub.tags.0,at",
        "--out",
        str(tmp_path / "items.csv"),
    )
    assert res.code == 0, res.stderr
    with (tmp_path / "items.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["_id", "qty", "name", "sub.tags.0", "at"] and len(rows) == len(oracle) + 1
    by_id = {r[0]: r for r in rows[1:]}
    for _id, d in oracle.items():
        assert by_id[str(_id)][1:4] == [str(d["qty"]), d["name"], d["sub"]["tags"][0]]
        assert dt.datetime.fromisoformat(by_id[str(_id)][4].replace("Z", "+00:00")) == d["at"].replace(
            tzinfo=dt.UTC
        )

    again = lifeboat("export", *run, "--format", "csv", "--out", str(tmp_path / "items.csv"))
    assert again.code == 2 and "exists already" in again.error_lines[0]
    wrong = lifeboat("export", "--format", "jsonl", "--out", str(tmp_path / "x.jsonl"), "--repo", repo.url)
    assert wrong.code == 2 and "--ns" in wrong.error_lines[1]
