"""Acceptance (issue 13): what an operator hits in the first hour."""

from __future__ import annotations

import threading
import time

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.oplog.segments import read_state
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.servers import ServerPool


def test_timeline_tells_a_running_archiver_from_a_stopped_one(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    src = source.client()
    workload.seed(src, 50)
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


def test_to_accepts_only_unambiguous_times(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    workload.seed(source.client(), 20)
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
    res = lifeboat(
        "restore", "--to", manifest.end_ts, "--target", source.uri, "--repo", repo.url, "--dry-run", "--json"
    )
    assert res.code == 0, res.stderr
    assert res.json()["base_backup"] == manifest.backup_id
