"""The CLI contract: one clear line and a distinct exit code for bad input; pure JSON; no secrets."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from mongo_lifeboat.demo import workload

from ..support.cli import lifeboat
from ..support.servers import ServerPool

SECRET = "hunter2-secret"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_one_clear_error(result_stderr: str, code: int, expected_code: int) -> str:
    assert code == expected_code, result_stderr
    errors = [line for line in result_stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result_stderr
    assert "Traceback" not in result_stderr
    assert SECRET not in result_stderr
    return errors[0]


@pytest.fixture
def repo_url(tmp_path: Path) -> str:
    url = "file://" + str(tmp_path / "repo")
    assert lifeboat("init", "--repo", url).code == 0
    return url


def test_unreachable_source_names_host_within_timeout(tmp_path: Path, repo_url: str) -> None:
    port = _closed_port()
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[deployment]\nsource = "mongodb://backup:{SECRET}@127.0.0.1:{port}/?authSource=admin"\ntimeout = "1.5s"\n'
    )
    r = lifeboat("--config", str(plan), "backup", "--repo", repo_url)
    line = _assert_one_clear_error(r.stderr, r.code, 4)
    assert f"127.0.0.1:{port}" in line and "1.5s" in line
    assert "hint:" in r.stderr


def test_unknown_backup_id(repo_url: str) -> None:
    r = lifeboat("info", "20200101T000000Z", "--repo", repo_url)
    line = _assert_one_clear_error(r.stderr, r.code, 6)
    assert "20200101T000000Z" in line
    r = lifeboat("info", "yesterday", "--repo", repo_url)
    assert "not a backup id" in _assert_one_clear_error(r.stderr, r.code, 2)


def test_malformed_plan_file_names_the_key(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('[deployment]\nsource = "mongodb://h"\n[backup]\njobs = "many"\n')
    r = lifeboat("--config", str(plan), "list")
    assert "backup.jobs" in _assert_one_clear_error(r.stderr, r.code, 3)
    plan.write_text("[backup\n")
    r = lifeboat("--config", str(plan), "list")
    assert "not valid TOML" in _assert_one_clear_error(r.stderr, r.code, 3)


def test_ns_from_without_ns_to(repo_url: str) -> None:
    r = lifeboat("restore", "--repo", repo_url, "--ns-from", "a.*", "--target", "mongodb://127.0.0.1:1")
    assert "--ns-to" in _assert_one_clear_error(r.stderr, r.code, 2)


def test_missing_repository_and_bad_urls(tmp_path: Path) -> None:
    r = lifeboat("list", "--repo", "file://" + str(tmp_path / "nothing"))
    assert "no Lifeboat repository" in _assert_one_clear_error(r.stderr, r.code, 5)
    r = lifeboat("list", "--repo", "ftp://x/y")
    assert "unsupported repository URL" in _assert_one_clear_error(r.stderr, r.code, 2)
    r = lifeboat("list")
    assert "no repository given" in _assert_one_clear_error(r.stderr, r.code, 2)
    r = lifeboat("backup", "--repo", "file://" + str(tmp_path / "nothing"), "--source", "http://x")
    _assert_one_clear_error(r.stderr, r.code, 5)


def test_a_bad_point_in_time_is_said_before_anything_is_opened(tmp_path: Path) -> None:
    nowhere = "file://" + str(tmp_path / "nothing")  # no repository: it is never reached
    for args in (
        ("restore", "--to", "yesterday", "--target", "mongodb://127.0.0.1:1"),
        ("drill", "--to", "yesterday"),
        ("export", "--to", "yesterday", "--format", "mongodump-archive", "--out", str(tmp_path / "x")),
    ):
        r = lifeboat(*args, "--repo", nowhere)
        assert "cannot read the point in time 'yesterday'" in _assert_one_clear_error(r.stderr, r.code, 2)


def test_a_bad_events_fd_is_a_usage_error_pointing_at_the_global_help() -> None:
    r = lifeboat("--events-fd", "987", "list")
    assert "--events-fd 987" in _assert_one_clear_error(r.stderr, r.code, 2)
    assert "see: lifeboat --help" in r.stderr


def test_unknown_option_is_a_usage_error() -> None:
    r = lifeboat("backup", "--frobnicate")
    assert "--frobnicate" in _assert_one_clear_error(r.stderr, r.code, 2)


def test_full_cycle_json_and_non_empty_target(servers: ServerPool, repo_url: str) -> None:
    source, target = servers.new(), servers.new()
    src = source.client()
    workload.seed(src, 100)
    r = lifeboat("backup", "--source", source.uri, "--repo", repo_url, "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)  # exactly one JSON document on stdout
    for key in ("backup_id", "start_ts", "end_ts", "duration_s", "collections", "bytes", "documents"):
        assert key in data
    assert {c["ns"]: c["documents"] for c in data["collections"]}["shop.orders"] == 100
    assert all(":" in data[k] for k in ("start_ts", "end_ts"))

    listed = lifeboat("list", "--repo", repo_url, "--json").json()
    assert [b["backup_id"] for b in listed["backups"]] == [data["backup_id"]]
    info = lifeboat("info", data["backup_id"], "--repo", repo_url, "--json").json()
    assert info["end_ts"] == data["end_ts"] and info["status"] == "complete"
    dry = lifeboat("restore", "--dry-run", "--repo", repo_url, "--json").json()
    assert dry["dry_run"] and dry["documents"] == data["documents"]
    assert set(target.client().list_database_names()) <= {"admin", "config", "local"}

    target.client().shop.orders.insert_one({"_id": "existing"})
    r = lifeboat("restore", "--target", target.uri, "--repo", repo_url)
    assert "shop.orders" in _assert_one_clear_error(r.stderr, r.code, 9)
    r = lifeboat("restore", "--target", target.uri, "--repo", repo_url, "--drop", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["documents"] == data["documents"]
    same = lifeboat("compare", source.uri, target.uri, "--json")
    assert same.code == 0 and same.json()["equal"] is True
    target.client().shop.orders.delete_one({})
    differ = lifeboat("compare", source.uri, target.uri, "--json")
    assert differ.code == 12 and any("shop.orders" in d for d in differ.json()["differences"])
    verified = lifeboat("verify", "--all", "--repo", repo_url, "--json")
    assert verified.code == 0 and verified.json()["ok"] is True
