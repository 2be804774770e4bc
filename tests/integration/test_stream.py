"""`lifeboat stream` as a process: crash and resume, one archiver per deployment, gaps — from
the oplog and from a change stream (issue 22: the same archive, whichever source captured it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.demo import workload
from mongo_lifeboat.oplog.reader import newest_ts
from mongo_lifeboat.oplog.segments import iter_entries
from mongo_lifeboat.repo.repository import Repository

from ..support.cli import lifeboat
from ..support.data import assert_same, stream_shows
from ..support.servers import SeededSource, ServerPool
from ..support.stream_process import Stream
from ..support.waiting import wait_for


def archived_to(repo: Repository) -> Any:
    segments = load_history(repo).segments
    return max((s.end for s in segments), default=None)


@pytest.mark.parametrize("capture", ["oplog", "change-stream"])
def test_sigkill_the_archiver_repeatedly_then_restore_to_the_latest_write(
    servers: ServerPool, seeded_source: SeededSource, repo: Repository, tmp_path: Path, capture: str
) -> None:
    source = seeded_source(400)
    src = source.client()
    run_backup(repo, BackupOptions(source.uri, capture=capture))
    url = repo.url
    # The writer runs until the third kill: each archiver dies at its Nth committed segment,
    # and segments are only cut while there is something to archive.
    writer = workload.Writer(src, 400).start()
    for kill in range(3):
        fault = {"LIFEBOAT_FAULT": f"segment-committed:{2 + kill}"}
        Stream(source.uri, url, env=fault, capture=capture).wait_killed()
    writer.stop()
    newest = newest_ts(src)
    final = Stream(source.uri, url, capture=capture).started()
    wait_for(lambda: (archived_to(repo) or newest) >= newest, "the archiver to catch up")
    assert f"(capture: {capture})" in final.stop()
    # The chain: exactly the source's entries after the backup, no overlap, no hole.
    history = load_history(repo)
    base_end = history.manifests[-1].end
    archived = [(e["ts"], e["op"], e.get("ns")) for e in iter_entries(repo.storage, history.segments)]
    expected = [
        (e["ts"], e["op"], e.get("ns"))
        for e in src.local["oplog.rs"].find({"ts": {"$gt": base_end}}).sort("$natural", 1)
    ]
    if capture == "oplog":
        assert archived == expected
    else:  # every write the stream shows, once, in order; no hole, no repeat across the kills
        entries = iter_entries(repo.storage, history.segments)
        assert stream_shows(entries) == stream_shows(
            src.local["oplog.rs"].find({"ts": {"$gt": base_end}}).sort("$natural", 1)
        )
    assert lifeboat("verify", "--all", "--repo", url).code == 0
    target = servers.new()
    restored = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", url, "--json")
    assert restored.code == 0, restored.stderr
    assert_same(target.client(), src)


def test_one_archiver_per_deployment_and_repository(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    source.client().a.b.insert_one({})
    first = Stream(source.uri, repo.url).started()
    second = lifeboat("stream", "--source", source.uri, "--repo", repo.url, timeout=60)
    assert second.code == 15
    error = next(line for line in second.stderr.splitlines() if line.startswith("error:"))
    assert f"pid {first.proc.pid}" in error and "since" in error
    first.stop()


@pytest.mark.parametrize("capture", ["oplog", "change-stream"])
def test_rollover_while_stopped_is_a_gap_until_the_next_base_backup(
    servers: ServerPool, repo: Repository, tmp_path: Path, capture: str
) -> None:
    source = servers.new(secantus_args=["--oplog-max-entries", "100"])
    src = source.client()
    src.app.items.insert_many([{"_id": i} for i in range(50)])
    url = repo.url
    assert lifeboat("backup", "--source", source.uri, "--repo", url, "--capture", capture).code == 0
    src.app.items.insert_one({"_id": "archived"})
    first = Stream(source.uri, url, capture=capture).started()
    wait_for(lambda: archived_to(repo) is not None, "a first segment")
    first.stop()
    src.app.flood.insert_many([{"i": i} for i in range(5000)])  # rolls the oplog over while stopped
    newest = newest_ts(src)
    second = Stream(source.uri, url, capture=capture).started()
    wait_for(lambda: (archived_to(repo) or newest) >= newest, "the archiver to resume")
    assert "GAP" in second.stop()

    timeline = lifeboat("timeline", "--repo", url, "--json")
    assert timeline.code == 0
    data = timeline.json()
    assert len(data["gaps"]) == 1 and "1 gap" in data["verdict"]
    gap = data["gaps"][0]
    inside = f"{gap['end'].split(':')[0]}:{int(gap['end'].split(':')[1])}"
    target = servers.new()
    refused = lifeboat("restore", "--to", inside, "--target", target.uri, "--repo", url)
    assert refused.code == 16
    assert "restorable windows:" in refused.stderr and data["windows"][0]["start"] in refused.stderr
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\ncapture = "{capture}"\n[[repository]]\nurl = "{url}"\n'
    )
    checked = lifeboat("--config", str(plan), "check", "--json")
    restorable = next(c for c in checked.json()["checks"] if c["id"] == "restorable")
    assert checked.code == 21 and restorable["status"] == "critical", restorable
    # A new base backup restores protection.
    assert lifeboat("backup", "--source", source.uri, "--repo", url, "--capture", capture).code == 0
    src.app.items.insert_one({"_id": "after the new backup"})
    newest = newest_ts(src)
    third = Stream(source.uri, url, capture=capture).started()
    wait_for(lambda: (archived_to(repo) or newest) >= newest, "the archiver to catch up")
    third.stop()
    restored = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", url)
    assert restored.code == 0, restored.stderr
    assert_same(target.client(), src)


def test_bad_to_values(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    source.client().a.b.insert_one({"_id": 1})
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    for spec, code in [
        ("2001-01-01T00:00:00Z", 16),
        ("4000000000:1", 16),
        ("next tuesday", 2),
        ("inc-zz", 2),
    ]:
        r = lifeboat("restore", "--to", spec, "--target", source.uri, "--repo", repo.url)
        assert r.code == code, (spec, r.stderr)
        assert len([line for line in r.stderr.splitlines() if line.startswith("error:")]) == 1
