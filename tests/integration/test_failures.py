"""Failure is designed: overflow, SIGKILL, corruption. Nothing half-written looks complete."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.errors import OplogOverflow
from mongo_lifeboat.events import Update
from mongo_lifeboat.repo.repository import Repository

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool

EXIT = {
    "usage": 2,
    "config": 3,
    "unreachable": 4,
    "not_found": 6,
    "integrity": 7,
    "overflow": 8,
    "target_not_empty": 9,
    "verify": 11,
}


def test_tiny_oplog_overflow_says_how_large_it_must_be(servers: ServerPool, repo: Repository) -> None:
    source = servers.new(secantus_args=["--oplog-max-entries", "100"])
    client = source.client()
    client.a.b.insert_many([{"i": i} for i in range(3000)])
    flood = 5000
    fired: list[bool] = []

    def during_export(u: Update) -> None:
        # One command that writes more entries than the oplog holds, while the export runs.
        if u.kind == "progress" and not fired:
            fired.append(True)
            client.a.flood.insert_many([{"i": i} for i in range(flood)])

    with pytest.raises(OplogOverflow) as info:
        run_backup(repo, BackupOptions(source.uri, chunk_bytes=64 << 10), during_export)
    assert fired
    message = info.value.message
    assert "oplog overflow" in message and "x larger" in message
    holds = client.local["oplog.rs"].estimated_document_count()
    assert f"holds {holds} entries" in message
    assert not [b for b in repo.list_backups() if b.complete], "a failed backup must not look complete"


def _seeded(servers: ServerPool, docs: int = 4000) -> tuple[Any, Any]:
    source = servers.new()
    client = source.client()
    workload.seed(client, docs)
    return source, client


@pytest.mark.parametrize(
    "fault",
    ["object-written:1", "object-committed:1", "object-committed:4", "object-written:6", "before-manifest"],
)
def test_sigkill_during_backup_leaves_nothing_complete(
    servers: ServerPool, tmp_path: Path, fault: str
) -> None:
    source, client = _seeded(servers, 1500)
    url = "file://" + str(tmp_path / "repo")
    assert lifeboat("init", "--repo", url).code == 0
    killed = lifeboat(
        "backup", "--source", source.uri, "--repo", url, "-j", "1", env={"LIFEBOAT_FAULT": fault}
    )
    assert killed.code == -signal.SIGKILL
    listed = lifeboat("list", "--repo", url, "--json")
    assert listed.code == 0
    statuses = [b["status"] for b in listed.json()["backups"]]
    assert statuses == ["incomplete"] or (fault == "object-written:1" and statuses in ([], ["incomplete"]))
    assert lifeboat("restore", "latest", "--target", source.uri, "--repo", url).code == EXIT["not_found"]
    # The next backup succeeds and restores correctly.
    done = lifeboat("backup", "--source", source.uri, "--repo", url, "--json")
    assert done.code == 0, done.stderr
    target = servers.new()
    restored = lifeboat("restore", "latest", "--target", target.uri, "--repo", url, "--json")
    assert restored.code == 0, restored.stderr
    assert_same(target.client(), client)


def _corrupt_setup(servers: ServerPool, tmp_path: Path) -> tuple[str, str, dict[str, Any]]:
    source, _client = _seeded(servers, 300)
    url = "file://" + str(tmp_path / "repo")
    lifeboat("init", "--repo", url)
    out = lifeboat("backup", "--source", source.uri, "--repo", url, "--json")
    assert out.code == 0, out.stderr
    manifest_path = next((tmp_path / "repo").rglob("manifest.json"))
    return url, str(manifest_path.parent), json.loads(manifest_path.read_text())


def _data_file(manifest: dict[str, Any]) -> str:
    return next(f["key"] for c in manifest["collections"] for f in c["files"] if c["name"] == "orders")


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_objects_are_named_and_restore_never_succeeds(
    servers: ServerPool, tmp_path: Path, damage: str
) -> None:
    url, _backup_dir, manifest = _corrupt_setup(servers, tmp_path)
    key = _data_file(manifest)
    path = tmp_path / "repo" / key
    data = path.read_bytes()
    if damage == "flip":
        path.write_bytes(data[:10] + bytes([data[10] ^ 0xFF]) + data[11:])
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()

    verified = lifeboat("verify", "--repo", url, "--json")
    assert verified.code == EXIT["verify"]
    problems = verified.json()["backups"][0]["problems"]
    assert [p["object"] for p in problems] == [key]
    assert "error:" in verified.stderr
    human = lifeboat("verify", "--repo", url)
    assert human.stdout.count(key) == 1 and key not in human.stderr  # named once, on one stream

    target = servers.new()
    restored = lifeboat("restore", "--target", target.uri, "--repo", url)
    assert restored.code == EXIT["integrity"]
    assert key in restored.stderr
    assert "restored backup" not in restored.stdout

    target2 = servers.new()
    first = lifeboat("restore", "--verify-first", "--target", target2.uri, "--repo", url)
    assert first.code == EXIT["integrity"]
    assert "nothing was written" in first.stderr
    assert set(target2.client().list_database_names()) <= {"admin", "config", "local"}


def test_corrupt_oplog_bracket_is_detected(servers: ServerPool, tmp_path: Path) -> None:
    url, _backup_dir, manifest = _corrupt_setup(servers, tmp_path)
    path = tmp_path / "repo" / manifest["oplog"]["file"]["key"]
    path.write_bytes(path.read_bytes() + b"junk")
    verified = lifeboat("verify", "--repo", url, "--json")
    assert verified.code == EXIT["verify"]
    assert verified.json()["backups"][0]["problems"][0]["object"] == manifest["oplog"]["file"]["key"]
