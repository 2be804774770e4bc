"""Probes of issues 34 and 35 against the command line's answers to bad or odd input: one line,
the documented exit code, nothing written, and an answer that cannot be mistaken for another
(a history of nothing is "not found", never "1 version: none"). The answers that need no server
are in ``tests/unit/test_cli_input.py``, in this process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.errors import StorageFailed
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.lease import Lease, Renewer
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.repo.retrying import RetryingStorage

from ..support.cli import lifeboat
from ..support.faulty_storage import FaultyStorage
from ..support.servers import SeededSource, ServerPool


@pytest.fixture
def backed_up(seeded_source: SeededSource, repo: Repository) -> tuple[str, Repository]:
    source = seeded_source(100)
    run_backup(repo, BackupOptions(source.uri))
    return source.uri, repo


def test_history_of_a_bad_id_an_unknown_namespace_or_an_absent_document(
    backed_up: tuple[str, Repository],
) -> None:
    _, repo = backed_up
    for raw in ("1e999", '{"$oid":"zz"}', "NaN"):
        res = lifeboat("history", "shop.orders", raw, "--repo", repo.url)
        assert res.code == 2, (raw, res.stderr)
        assert res.error_lines[0].startswith("error: not an _id"), res.stderr
    unknown = lifeboat("history", "../../../etc", "1", "--repo", repo.url)
    assert unknown.code == 6, unknown.stderr
    assert "no collection ../../../etc in any backup" in unknown.error_lines[0]
    assert "shop.orders" in unknown.stderr  # what the backups do hold
    absent = lifeboat("history", "shop.orders", '"7"', "--repo", repo.url)
    assert absent.code == 6, absent.stderr
    assert 'no version of _id "7" (string) in shop.orders' in absent.error_lines[0]
    present = lifeboat("history", "shop.orders", "7", "--repo", repo.url, "--json")
    assert present.code == 0 and present.json()["versions"][0]["document"]["_id"] == 7


def test_an_over_long_target_namespace_is_refused_before_anything_is_written(
    backed_up: tuple[str, Repository], servers: ServerPool
) -> None:
    _, repo = backed_up
    target = servers.new()
    long_name = "c" * 300
    for dry in ((), ("--dry-run",)):
        res = lifeboat(
            "restore", "latest", "--ns-from", "shop.orders", "--ns-to", f"shop.{long_name}",
            "--ns-include", "shop.orders", "--repo", repo.url, "--target", target.uri, *dry,
        )  # fmt: skip
        assert res.code == 2, res.stderr
        assert "a namespace is at most 255 bytes" in res.error_lines[0]
    assert target.client().list_database_names() == [
        d for d in target.client().list_database_names() if d in ("admin", "config", "local")
    ]


def test_a_lease_renewal_against_a_dead_repository_is_quiet_and_the_job_ends_at_its_deadline(
    tmp_path: Path,
) -> None:
    """What an S3 endpoint killed during a backup showed: a traceback from the renewing thread,
    and a release through the dead repository that doubled the run's time."""
    faulty = FaultyStorage(FileStorage(tmp_path / "repo"))
    storage = RetryingStorage(faulty, 2.0, first_delay_s=0.01, max_delay_s=0.2)
    thread_errors: list[threading.ExceptHookArgs] = []
    previous, threading.excepthook = threading.excepthook, thread_errors.append
    try:
        renewer = Renewer(Lease(storage, "rs0", "backup", ttl_s=0.3))  # renews every 0.1 s
        with pytest.raises(StorageFailed), renewer:
            faulty.outage = True
            began = time.monotonic()
            storage.stat("rs0/anything")  # the job meets the dead repository: its deadline
        took = time.monotonic() - began
    finally:
        threading.excepthook = previous
    assert thread_errors == []
    assert renewer.failure is not None
    assert took < 2.0 + 3.0, took  # the deadline once (and a loaded machine's slack), not twice
