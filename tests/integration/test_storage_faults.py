"""Acceptance (issue 9): a repository whose requests fail now and then, are slow, or stop
answering altogether. Every repository is opened through ``repo.retrying``; here a
fault-injecting wrapper sits under it (``tests/support/faulty_storage.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.points import LATEST
from mongo_lifeboat.errors import StorageFailed
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.repo.retrying import RetryingStorage
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore

from ..support.archiving import archiving
from ..support.data import assert_same
from ..support.faulty_storage import FaultyStorage
from ..support.servers import SeededSource, ServerPool
from ..support.waiting import wait_for


def _repository(path: Path, faulty: FaultyStorage, deadline_s: float) -> Repository:
    info = Repository.init("file://" + str(path)).info
    return Repository(RetryingStorage(faulty, deadline_s, first_delay_s=0.01, max_delay_s=0.2), info)


def test_backup_archiving_and_restore_are_right_through_a_faulty_repository(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(1000)
    src = source.client()
    faulty = FaultyStorage(
        FileStorage(tmp_path / "repo"), fail_rate=0.05, latency_s=0.002, slow_request=25, slow_s=1.5, seed=5
    )
    repo = _repository(tmp_path / "repo", faulty, deadline_s=30.0)
    run_backup(repo, BackupOptions(source.uri, jobs=2, chunk_bytes=16 << 10))
    with archiving(repo, source.uri, segment_bytes=4 << 10) as stats:
        for n in range(6):
            src.shop.orders.insert_many(
                [{"_id": f"late-{n}-{i}", "qty": i, "pad": "x" * 200} for i in range(50)]
            )
            wait_for(lambda n=n: stats.segments > 3 * n, "the archiver to commit segments through the faults")
        src.shop.orders.delete_many({"qty": {"$lt": 40}})
        src.shop.Customers.update_many({"grp": 2}, {"$set": {"moved": True}})
    target = servers.new()
    plan, pitr = choose_restore(repo, "latest", LATEST, None, NamespaceMap.build())
    assert pitr is not None and pitr.segments
    run_restore(repo, plan, target.client(), RestoreOptions(jobs=2), pitr=pitr)
    assert_same(src, target.client())
    assert faulty.requests > 100 and faulty.failures >= 3  # the slow request and the faults happened


def test_a_repository_that_stops_answering_is_one_clear_error_within_the_deadline(
    seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(300)
    # Answers at first, then nothing gets through: the backup is under way when it stops.
    faulty = FaultyStorage(FileStorage(tmp_path / "repo"), outage_after=12)
    repo = _repository(tmp_path / "repo", faulty, deadline_s=2.0)
    with pytest.raises(StorageFailed) as caught:
        run_backup(repo, BackupOptions(source.uri, jobs=2, chunk_bytes=16 << 10))
    assert faulty.outage_began is not None
    assert time.monotonic() - faulty.outage_began < 2.0 + 10.0  # the deadline, plus a loaded machine's slack
    message = caught.value.message
    # The operation, the object and the repository, in one line.
    assert message.split(" of ")[0] in {"upload", "read", "stat", "delete", "conditional replace", "listing"}
    assert f"in file://{tmp_path / 'repo'} failed after" in message and "\n" not in message
    # Nothing half-written looks complete.
    faulty.outage, faulty.outage_after = False, None
    assert [b for b in repo.list_backups() if b.complete] == []
