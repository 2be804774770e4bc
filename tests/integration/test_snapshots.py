"""Acceptance (issue 12, first part): a filesystem snapshot as a point-in-time base.

The test bed is the documented "cold" method on SecantusDB: the ``command`` provider's ``pre``
stops the member, ``snapshot`` copies its data directory, ``post`` starts it again; a writer
runs before, during and after. Later a second SecantusDB is started on the copy and rolled
forward to two points in time, each equal to the oracle; a target that is not the snapshot's
data is refused before anything is written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.demo import workload
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import to_str

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same, summarize
from ..support.member import StoppableMember
from ..support.servers import ServerPool
from ..support.traffic import Oracle, Traffic
from ..support.waiting import wait_for

DOCS = 150
TRAFFIC = ["shop.orders", "shop.Customers", "analytics.Événements clients"]
MEMBER_CTL = Path(__file__).resolve().parents[1] / "support" / "member.py"


def test_a_cold_snapshot_rolled_forward_to_two_points_in_time(servers: ServerPool, tmp_path: Path) -> None:
    member = StoppableMember(tmp_path / "member.json", tmp_path / "data")
    member.start()
    try:
        _scenario(member, servers, tmp_path)
    finally:
        member.stop()


def _scenario(member: StoppableMember, servers: ServerPool, tmp_path: Path) -> None:
    src: Any = __import__("pymongo").MongoClient(member.uri)
    workload.seed(src, DOCS)
    repo_url = "file://" + str(tmp_path / "repo")
    repo = Repository.init(repo_url)
    copies = tmp_path / "snapshots"
    copies.mkdir()
    ctl = f"{sys.executable} {MEMBER_CTL}"
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{member.uri}"\n[[repository]]\nname = "a"\nurl = "{repo_url}"\n'
        '[snapshot]\nprovider = "command"\nconsistency = "cold"\n'
        f'pre = "{ctl} stop {tmp_path / "member.json"}"\npost = "{ctl} start {tmp_path / "member.json"}"\n'
        "[snapshot.command]\n"
        f'snapshot = "cp -a {tmp_path / "data"} {copies}/$LIFEBOAT_SNAPSHOT_ID && echo {copies}/$LIFEBOAT_SNAPSHOT_ID"\n'
        f'delete = "rm -rf $LIFEBOAT_PROVIDER_IDS"\n'
        f'restore = "{ctl} serve-copy $LIFEBOAT_PROVIDER_IDS {tmp_path}/served-$$ {tmp_path}/served-$$.json"\n'
    )
    backup = lifeboat("--config", str(plan), "backup", "--json")  # a logical base before the snapshot
    assert backup.code == 0, backup.stderr
    traffic = Traffic(src, {ns: list(range(DOCS)) for ns in TRAFFIC}).start()
    with archiving(repo, member.uri, segment_bytes=4 << 10):
        traffic.wait_ops(40)  # before
        res = lifeboat("--config", str(plan), "snapshot", "--json")  # during: the writer goes on
        assert res.code == 0, res.stderr
        snap = res.json()
        traffic.wait_ops(80)  # after
        log = traffic.stop()
        end = src.local["oplog.rs"].find().sort("$natural", -1).limit(1).next()["ts"]
        wait_for(lambda: _archived(repo) >= end, "the archive to reach the last write", 60)
    assert snap["consistency"] == "cold" and snap["provider_ids"] == [f"{copies}/{snap['snapshot_id']}"]
    assert snap["consistent_from"] <= snap["consistent_to"]
    listed = lifeboat("--config", str(plan), "snapshot", "list", "--json").json()
    assert [s["snapshot_id"] for s in listed] == [snap["snapshot_id"]]
    # On the timeline the snapshot is a base in the window the logical backup opened.
    windows = lifeboat("timeline", "--repo", repo_url, "--json").json()["windows"]
    assert [w["backups"] for w in windows] == [
        [backup.json()["backup_id"], f"snapshot:{snap['snapshot_id']}"]
    ]

    # Two points after the snapshot: the member started on the copy, rolled forward, each time.
    after = [op for op in log if op.ts_before > _parse(snap["consistent_to"])]
    assert len(after) > 20, "the writer wrote after the snapshot"
    for point in (after[len(after) // 3].ts_after, after[-5].ts_after):
        restored = StoppableMember(
            tmp_path / f"restored-{point.time}-{point.inc}.json", tmp_path / f"r-{point.inc}"
        )
        shutil.copytree(snap["provider_ids"][0], tmp_path / f"r-{point.inc}")
        restored.start()
        try:
            res = lifeboat(
                "restore", "--to", to_str(point), "--base", f"snapshot:{snap['snapshot_id']}",
                "--target", restored.uri, "--repo", repo_url, "--json",
            )  # fmt: skip
            assert res.code == 0, res.stderr
            assert res.json()["oplog_entries"] > 0
            oracle = Oracle(servers.new().client(), DOCS)
            oracle.replay_before(log, point, src)
            target = __import__("pymongo").MongoClient(restored.uri)
            assert_same(target, oracle.client)
        finally:
            restored.stop()

    # Without --base, restore --to uses the logical backup, and says the snapshot is closer.
    point = after[-5].ts_after
    logical = servers.new()
    res = lifeboat("restore", "--to", to_str(point), "--repo", repo_url, "--target", logical.uri)
    assert res.code == 0, res.stderr
    assert f"snapshot:{snap['snapshot_id']} is a closer base" in res.stderr
    oracle = Oracle(servers.new().client(), DOCS)
    oracle.replay_before(log, point, src)
    assert_same(logical.client(), oracle.client)
    other = servers.new()

    # A drill of the snapshot base: the provider's restore serves a copy, rolled forward and proven.
    try:
        drill = lifeboat(
            "--config", str(plan), "drill", "--base", f"snapshot:{snap['snapshot_id']}", "--json"
        )
        assert drill.code == 0, drill.stderr
        report = drill.json()
        assert report["verdict"] == "pass" and report["base_backup"] == f"snapshot:{snap['snapshot_id']}"
        assert report["documents_compared"] > DOCS and {"load", "replay", "proof"} <= set(report["phases"])
        # restore --base without --target: the provider's restore brings the member up, then the roll forward.
        served = lifeboat(
            "--config", str(plan), "restore", "--to", to_str(after[-5].ts_after), "--base",
            f"snapshot:{snap['snapshot_id']}", "--json",
        )  # fmt: skip
        assert served.code == 0, served.stderr
        assert (
            "running the command provider's restore" in served.stderr and served.json()["oplog_entries"] > 0
        )
    finally:
        for state in tmp_path.glob("served-*.json"):
            StoppableMember(state).stop()

    # A target that is not the snapshot's data is refused, and left as it was.
    workload.seed(other.client(), 20)
    before = summarize(other.client())
    res = lifeboat(
        "restore", "--to", to_str(after[-5].ts_after), "--base", f"snapshot:{snap['snapshot_id']}",
        "--target", other.uri, "--repo", repo_url,
    )  # fmt: skip
    assert res.code == 24, res.stderr
    assert "the target's data ends at" in res.error_lines[0] and summarize(other.client()) == before


def _parse(text: str) -> Any:
    from mongo_lifeboat.timestamps import parse_position

    return parse_position(text)


def _archived(repo: Repository) -> Any:
    from bson import Timestamp

    return load_history(repo).timeline.archived_to or Timestamp(0, 0)


def test_fsync_lock_on_a_server_without_it_is_a_snapshot_failure_naming_the_fix(
    servers: ServerPool, tmp_path: Path
) -> None:
    """Issue 18, item 5. A mongod has fsyncLock: there, the lock itself is tested against a
    wire-level double (test_snapshot_lock); this is the server that lacks it."""
    source = servers.new()
    if source.kind != "secantus":
        pytest.skip("needs a server without fsyncLock (SecantusDB); mongod has it")
    repo_url = "file://" + str(tmp_path / "repo")
    Repository.init(repo_url)
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nname = "a"\nurl = "{repo_url}"\n'
        f'[snapshot]\nprovider = "command"\n[snapshot.command]\nsnapshot = "echo never-taken"\n'
    )
    res = lifeboat("--config", str(plan), "snapshot")
    assert res.code == 23, res.stderr
    assert res.error_lines[0].startswith("error: locking writes (fsync lock) failed")
    assert "$clusterTime" not in res.stderr and "host, port" not in res.stderr
    assert 'consistency = "journal"' in res.error_lines[1]
    checked = lifeboat("--config", str(plan), "check", "--json")
    found = {r["id"]: r for r in checked.json()["checks"]}["snapshot-method"]
    assert found["status"] == "warning" and "fsync-lock cannot work" in found["finding"]
