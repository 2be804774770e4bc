"""Acceptance (issue 24, mount): a moment served read-only on loopback answers find and
aggregate with the state at T (whole-collection content hashes against the source, which was
at T then), refuses writes, is shared by a second request for the same T, stops at its TTL or
on ``mount stop``, and leaves nothing running or on disk."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import just_after, to_str

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource
from ..support.waiting import wait_for


def _gone(port: int, pid: int) -> bool:
    with socket.socket() as s:
        listening = s.connect_ex(("127.0.0.1", port)) == 0
    try:  # a zombie (ended, not yet reaped by whoever inherited it) is gone too
        alive = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        alive = False
    return not listening and not alive


def test_a_moment_mounted_read_only_shared_and_stopped(seeded_source: SeededSource, tmp_path: Path) -> None:
    env = {"LIFEBOAT_MOUNTS": str(tmp_path / "mounts")}
    source = seeded_source(300)
    src = source.client()
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri):
        src.shop.orders.delete_many({"qty": {"$lt": 20}})
        src.shop.orders.update_many({"grp": 1}, {"$set": {"changed": True}})
        at = just_after(newest_ts(src))
        wait_archived(repo, newest_ts(src))

    try:
        _mount_share_and_stop(env, src, repo, at, tmp_path)
    finally:  # a failed assertion leaves no server running for its TTL
        for listed in lifeboat("mount", "list", "--json", env=env).json():
            lifeboat("mount", "stop", listed["id"], env=env)


def _mount_share_and_stop(
    env: dict[str, str], src: Any, repo: Repository, at: Timestamp, tmp_path: Path
) -> None:
    res = lifeboat("mount", "--to", to_str(at), "--ttl", "10m", "--repo", repo.url, "--json", env=env)
    assert res.code == 0, res.stderr
    mounted = res.json()
    assert mounted["restored_to"] == to_str(at) and mounted["shared"] is False
    assert "***" not in mounted["uri"] and mounted["uri"].startswith("mongodb://reader:")
    view: MongoClient[Any] = MongoClient(mounted["uri"], serverSelectionTimeoutMS=10_000)
    try:
        assert_same(src, view)  # the source has not moved since T: it is the oracle
        by_group = list(view.shop.orders.aggregate([{"$group": {"_id": "$grp", "n": {"$sum": 1}}}]))
        assert sum(g["n"] for g in by_group) == src.shop.orders.count_documents({})
        with pytest.raises(OperationFailure, match="not authorized"):
            view.shop.orders.insert_one({"_id": "written"})
        with pytest.raises(OperationFailure, match="not authorized"):
            view.shop.orders.drop()
    finally:
        view.close()
    with pytest.raises(OperationFailure):  # and nobody without the password reads it
        MongoClient(port=mounted["port"], directConnection=True).shop.orders.find_one()

    again = lifeboat("mount", "--to", to_str(at), "--repo", repo.url, "--json", env=env)
    assert again.code == 0, again.stderr
    assert again.json()["id"] == mounted["id"] and again.json()["shared"] is True  # one restore
    listed = lifeboat("mount", "list", "--json", env=env).json()
    assert [m["id"] for m in listed] == [mounted["id"]] and 0 < listed[0]["seconds_left"] <= 600

    stopped = lifeboat("mount", "stop", mounted["id"], "--json", env=env)
    assert stopped.code == 0, stopped.stderr
    wait_for(lambda: _gone(mounted["port"], mounted["keeper_pid"]), "the mount to stop")
    assert not (tmp_path / "mounts" / mounted["id"]).exists()
    assert lifeboat("mount", "list", "--json", env=env).json() == []
    missing = lifeboat("mount", "stop", mounted["id"], env=env)
    assert missing.code == 6 and "lifeboat mount list" in missing.stderr  # not found, as elsewhere

    # A short TTL: it stops by itself and leaves nothing behind.
    short = lifeboat("mount", "--ns-include", "shop.*", "--ttl", "3s", "--repo", repo.url, "--json", env=env)
    assert short.code == 0, short.stderr
    brief = short.json()
    wait_for(lambda: _gone(brief["port"], brief["keeper_pid"]), "the mount to reach its TTL", timeout=120)
    assert not (tmp_path / "mounts" / brief["id"]).exists()

    # Its keeper killed with SIGKILL: the next look at the mounts stops the server it left.
    killed = lifeboat(
        "mount", "--ns-include", "shop.orders", "--ttl", "10m", "--repo", repo.url, "--json", env=env
    )
    assert killed.code == 0, killed.stderr
    orphaned = killed.json()
    os.kill(orphaned["keeper_pid"], signal.SIGKILL)
    wait_for(
        lambda: lifeboat("mount", "list", "--json", env=env).json() == [], "the dead keeper's mount to go"
    )
    wait_for(lambda: _gone(orphaned["port"], orphaned["server_pid"]), "its server to stop")
    assert not (tmp_path / "mounts" / orphaned["id"]).exists()
