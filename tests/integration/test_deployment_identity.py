"""Acceptance (issue 18, item 1): two replica sets that share a name never share a history.

Every SecantusDB calls its set ``secantus`` (and in production ``rs0`` is everywhere), so
two servers backed up into one repository land under one name. A backup or an archiver of
the second is refused, naming both; under a name of its own it is kept apart; and a base
of the other set that is already in the repository (written by an older Lifeboat) is never
combined with this set's archive.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mongo_lifeboat.demo import workload
from mongo_lifeboat.oplog.reader import newest_ts
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import parse_position

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool
from ..support.waiting import wait_for


def _same_set_name(a_uri: str, b_uri: str) -> str:
    from pymongo import MongoClient

    names = []
    for uri in (a_uri, b_uri):
        with MongoClient(uri, serverSelectionTimeoutMS=10_000) as c:
            names.append(c.admin.command("hello")["setName"])
    if names[0] != names[1]:
        pytest.skip(f"needs two replica sets of one name; the test servers are {names[0]} and {names[1]}")
    return str(names[0])


def test_a_second_set_of_the_same_name_is_refused_then_kept_apart(
    servers: ServerPool, repo: Repository
) -> None:
    a, b = servers.new(), servers.new()
    name = _same_set_name(a.uri, b.uri)
    workload.seed(a.client(), 200)
    workload.seed(b.client(), 50)
    first = lifeboat("backup", "--source", a.uri, "--repo", repo.url, "--json")
    assert first.code == 0, first.stderr

    refused = lifeboat("backup", "--source", b.uri, "--repo", repo.url)
    assert refused.code == 25, refused.stderr
    assert f"not the deployment {name!r}" in refused.stderr
    assert "--deployment NAME" in refused.stderr
    assert [line for line in refused.stderr.splitlines() if line.startswith("error:")].__len__() == 1
    listed = lifeboat("list", "--repo", repo.url, "--json").json()["backups"]
    assert [r["backup_id"] for r in listed] == [first.json()["backup_id"]]  # nothing was written

    streamed = lifeboat("stream", "--source", b.uri, "--repo", repo.url, timeout=120)
    assert streamed.code == 25, streamed.stderr

    apart = lifeboat("backup", "--source", b.uri, "--repo", repo.url, "--deployment", "orders-b", "--json")
    assert apart.code == 0, apart.stderr
    assert apart.json()["deployment"] == "orders-b"
    # A's own next backup still goes where A's history is.
    again = lifeboat("backup", "--source", a.uri, "--repo", repo.url, "--json")
    assert again.code == 0, again.stderr
    assert again.json()["deployment"] == name


def test_a_foreign_base_already_in_the_repository_is_never_a_point_in_time_base(
    servers: ServerPool, repo: Repository, tmp_path: Path
) -> None:
    a, b = servers.new(), servers.new()
    name = _same_set_name(a.uri, b.uri)
    src_a, src_b = a.client(), b.client()
    workload.seed(src_a, 300)
    workload.seed(src_b, 120, rng_seed=9)
    src_b.big.events.insert_many([{"_id": i, "only_in_b": True} for i in range(500)])
    base_a = lifeboat("backup", "--source", a.uri, "--repo", repo.url, "--json")
    assert base_a.code == 0, base_a.stderr
    other = Repository.init("file://" + str(tmp_path / "other"))
    with archiving(repo, a.uri):
        writer = workload.Writer(src_a, 300, rng_seed=4).start()
        # B's first base is taken while A's archive runs on, so it falls inside A's chain by
        # time (only the entry at its point tells it apart); its second after A's archive
        # ends, the newest point in the repository (only the replica set tells it apart).
        src_b.big.events.insert_one({"_id": "during-a", "only_in_b": True})  # B's point: in A's span
        inside = lifeboat("backup", "--source", b.uri, "--repo", other.url, "--json")
        assert inside.code == 0, inside.stderr
        b_end = parse_position(inside.json()["end_ts"])
        wait_for(lambda: newest_ts(src_a) > b_end, "A's oplog to pass B's consistent point", 60)
        src_a.shop.orders.insert_one({"_id": "after-b", "qty": 1})
        writer.stop()
    a_last = newest_ts(src_a)
    wait_for(lambda: time.time() >= a_last.time + 2, "a second past A's archive", 30)
    src_b.big.events.insert_one({"_id": "late", "only_in_b": True})
    newest = lifeboat("backup", "--source", b.uri, "--repo", other.url, "--json")
    assert newest.code == 0, newest.stderr
    # As an older Lifeboat would have left them: B's backups under A's name in A's repository.
    b_ids = [inside.json()["backup_id"], newest.json()["backup_id"]]
    for b_id in b_ids:
        shutil.copytree(
            tmp_path / "other" / name / "backups" / b_id, tmp_path / "repo" / name / "backups" / b_id
        )

    timeline = lifeboat("timeline", "--repo", repo.url, "--json")
    assert timeline.code == 0, timeline.stderr
    data = timeline.json()
    reasons = {f["backup_id"]: f["reason"] for f in data["foreign_bases"]}
    assert sorted(reasons) == sorted(b_ids)
    assert "consistent point" in reasons[b_ids[0]]  # the chain told it apart
    assert "another replica set" in reasons[b_ids[1]]  # its members told it apart
    assert not set(b_ids) & {x for w in data["windows"] for x in w["backups"]}
    text = lifeboat("timeline", "--repo", repo.url)
    assert f"base backup {b_ids[0]} is NOT of this history" in text.stdout

    target = a_target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", repo.url, "--json")
    assert res.code == 0, res.stderr
    assert res.json()["backup_id"] == base_a.json()["backup_id"]
    assert_same(a_target.client(), src_a)  # A's data at its latest write, nothing of B's
    # B's backups still restore as themselves.
    alone = servers.new()
    res = lifeboat("restore", b_ids[1], "--target", alone.uri, "--repo", repo.url)
    assert res.code == 0, res.stderr
    assert_same(alone.client(), src_b)
