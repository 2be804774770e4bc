"""Acceptance (issue 13): what an operator hits in the first hour."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.oplog.segments import read_state
from mongo_lifeboat.repo import layout
from mongo_lifeboat.repo.lease import Lease
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.verify.compare import summarize

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.servers import SeededSource, ServerPool


def test_timeline_tells_a_running_archiver_from_a_stopped_one(
    seeded_source: SeededSource, repo: Repository
) -> None:
    source = seeded_source(50)
    src = source.client()
    manifest = run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri, segment_seconds=0.2):
        src.shop.orders.insert_one({"_id": "x", "qty": 1})
        deadline, pause = time.monotonic() + 60, threading.Event()
        while read_state(repo.storage, manifest.deployment) is None:  # written once a period
            assert time.monotonic() < deadline, "the archiver never recorded its state"
            pause.wait(0.05)
        running = lifeboat("timeline", "--repo", repo.url, "--json")
        shown = lifeboat("timeline", "--repo", repo.url)
    assert running.code == 0, running.stderr
    assert running.json()["archiver"]["running"] is True
    assert "archiver: running" in shown.stdout
    stopped = lifeboat("timeline", "--repo", repo.url, "--json")
    state = stopped.json()["archiver"]
    assert state["running"] is False and state["age_s"] >= 0
    human = lifeboat("timeline", "--repo", repo.url)
    assert "archiver: STOPPED" in human.stdout and "lag" not in human.stdout


def test_to_accepts_only_unambiguous_times(seeded_source: SeededSource, repo: Repository) -> None:
    source = seeded_source(20)
    manifest = run_backup(repo, BackupOptions(source.uri))
    for spec in ("12:34", "12:34:56"):
        res = lifeboat("restore", "--to", spec, "--target", source.uri, "--repo", repo.url, "--dry-run")
        assert res.code == 2, res.stderr
        assert "ambiguous" in res.error_lines[0] and "2026-11-24T12:34:00Z" in res.error_lines[1]
    # The window's own start, as the refusal of another time lists it, is accepted.
    early = lifeboat(
        "restore", "--to", "1000000000:1", "--target", source.uri, "--repo", repo.url, "--dry-run"
    )
    assert early.code == 16 and f"({manifest.end_ts})" in early.stderr
    res = lifeboat("restore", "--to", manifest.end_ts, "--repo", repo.url, "--dry-run", "--json")
    assert res.code == 0, res.stderr
    assert res.json()["base_backup"] == manifest.backup_id


def test_restore_drop_never_drops_for_a_backup_it_cannot_read(
    servers: ServerPool, seeded_source: SeededSource, repo: Repository
) -> None:
    source = seeded_source(100)
    manifest = run_backup(repo, BackupOptions(source.uri))
    target = servers.new()
    workload.seed(target.client(), 30, rng_seed=99)  # the target's own data, different
    before = summarize(target.client())
    # The dry run makes the real run's target checks: exit 9 without --drop.
    dry = lifeboat("restore", "--target", target.uri, "--repo", repo.url, "--dry-run")
    assert dry.code == 9, dry.stderr
    assert lifeboat("restore", "--target", target.uri, "--repo", repo.url).code == 9
    # One data object damaged: --drop must find it before dropping anything.
    entry = next(c for c in manifest.collections if c.ns == "shop.orders").files[0]
    path = Path(repo.url.removeprefix("file://")) / entry.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    res = lifeboat("restore", "--target", target.uri, "--repo", repo.url, "--drop")
    assert res.code == 7, res.stderr
    assert entry.key in res.stderr
    assert summarize(target.client()) == before  # untouched: every collection, every document


def test_list_never_cuts_a_backup_id(seeded_source: SeededSource, repo: Repository) -> None:
    source = seeded_source(10)
    manifest = run_backup(repo, BackupOptions(source.uri))
    for width in ("60", "30"):
        res = lifeboat("list", "--repo", repo.url, env={"COLUMNS": width})
        assert res.code == 0, res.stderr
        assert manifest.backup_id in res.stdout
        assert all(len(line) <= int(width) or manifest.backup_id in line for line in res.stdout.splitlines())


def test_an_unwritable_repository_is_exit_5_naming_it_before_anything_connects(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    url = "file://" + str(repo)
    assert lifeboat("init", "--repo", url).code == 0
    again = lifeboat("init", "--repo", url, "--json")
    assert again.code == 0 and again.json()["created"] is False  # idempotent
    quiet = lifeboat("-q", "init", "--repo", url)  # -q silences progress, never the result
    assert quiet.code == 0 and "already a repository, nothing changed" in quiet.stdout
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    on_file = lifeboat("init", "--repo", "file://" + str(a_file / "repo"))
    assert on_file.code == 5 and str(a_file) in on_file.error_lines[0]
    # Read-only even for root: the immutable attribute (the suite runs as root in CI).
    locked = subprocess.run(["chattr", "+i", str(repo)], capture_output=True, text=True)
    if locked.returncode != 0:
        pytest.skip(f"cannot make a directory read-only here: {locked.stderr.strip()}")
    try:
        unreachable = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=60000"
        dump = tmp_path / "dump"
        dump.mkdir()
        for args in (
            ("backup", "--source", unreachable),
            ("stream", "--source", unreachable),
            ("import-mongodump", str(dump)),
        ):
            res = lifeboat(*args, "--repo", url, timeout=30)  # connecting first would take 60 s
            assert res.code == 5, (args, res.stderr)
            assert str(repo) in res.error_lines[0] and res.error_lines[1].startswith("hint:")
    finally:
        subprocess.run(["chattr", "-i", str(repo)], check=True)


def test_killed_backups_show_incomplete_and_cleanup_removes_them(
    seeded_source: SeededSource, repo: Repository
) -> None:
    source = seeded_source(200)
    killed = lifeboat(
        "backup", "--source", source.uri, "--repo", repo.url, env={"LIFEBOAT_FAULT": "object-committed:3"}
    )
    assert killed.code == -9, killed.stderr
    listed = lifeboat("list", "--repo", repo.url, "--json").json()["backups"]
    assert [b["status"] for b in listed] == ["incomplete"]  # its lease died with it
    dead = listed[0]["backup_id"]

    # A backup that is still being written holds its lease: shown running, never cleaned up.
    manifest = run_backup(repo, BackupOptions(source.uri))
    running_id = "20200101T000000Z"
    repo.storage.put(f"{manifest.deployment}/backups/{running_id}/data/x.0.bson.zst", io.BytesIO(b"partial"))
    lease = Lease(repo.storage, manifest.deployment, layout.backup_lease_name(running_id))
    lease.acquire()
    try:
        states = {
            b["backup_id"]: b["status"]
            for b in lifeboat("list", "--repo", repo.url, "--json").json()["backups"]
        }
        assert states == {dead: "incomplete", running_id: "running", manifest.backup_id: "complete"}
        assert lifeboat("delete", running_id, "--repo", repo.url).code == 15
        dry = lifeboat("cleanup", "--repo", repo.url, "--dry-run", "--json")
        assert [d["backup_id"] for d in dry.json()["removed"]] == [dead]
        assert any(o.key.startswith(f"{manifest.deployment}/backups/{dead}/") for o in repo.storage.list())
        done = lifeboat("cleanup", "--repo", repo.url, "--json")
        assert done.code == 0 and [d["backup_id"] for d in done.json()["removed"]] == [dead]
        assert not any(f"/backups/{dead}/" in o.key for o in repo.storage.list())
        assert any(f"/backups/{running_id}/" in o.key for o in repo.storage.list())
    finally:
        lease.release()

    # The only base of the restorable window is kept unless --force.
    refused = lifeboat("delete", manifest.backup_id, "--repo", repo.url)
    assert refused.code == 2 and "--force" in refused.stderr
    dry = lifeboat("delete", manifest.backup_id, "--repo", repo.url, "--force", "--dry-run", "--json").json()
    assert dry["objects"] > 0 and not dry["deleted"]
    assert lifeboat("info", manifest.backup_id, "--repo", repo.url).code == 0
    gone = lifeboat("delete", manifest.backup_id, "--repo", repo.url, "--force", "--json").json()
    assert gone["deleted"] and gone["objects"] == dry["objects"]
    assert not any(f"/backups/{manifest.backup_id}/" in o.key for o in repo.storage.list())
