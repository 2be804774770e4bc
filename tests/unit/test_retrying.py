"""The retry layer every repository is opened through (``repo.retrying``), under injected faults."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from mongo_lifeboat.errors import StorageFailed
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.lease import Lease
from mongo_lifeboat.repo.retrying import RetryingStorage
from mongo_lifeboat.repo.storage import ObjectMissing

from ..support.faulty_storage import FaultyStorage


def _faulty(
    tmp_path: Path, deadline_s: float = 30.0, **faults: float
) -> tuple[RetryingStorage, FaultyStorage]:
    faulty = FaultyStorage(FileStorage(tmp_path / "store"), **faults)  # type: ignore[arg-type]
    return RetryingStorage(faulty, deadline_s, first_delay_s=0.001, max_delay_s=0.01), faulty


def test_every_operation_succeeds_through_a_third_of_requests_failing(tmp_path: Path) -> None:
    store, faulty = _faulty(tmp_path, fail_rate=0.3, seed=7)
    for i in range(120):
        store.put(f"obj/{i:03d}", io.BytesIO(f"payload {i}".encode() * 100), {"i": str(i)})
    listed = list(store.list("obj/"))
    assert [o.key for o in listed] == [f"obj/{i:03d}" for i in range(120)]  # none lost, none twice
    for i in range(0, 120, 7):
        with store.get(f"obj/{i:03d}") as f:
            assert f.read() == f"payload {i}".encode() * 100
        assert store.stat(f"obj/{i:03d}").meta == {"i": str(i)}
    store.delete([f"obj/{i:03d}" for i in range(60)])
    assert len(list(store.list("obj/"))) == 60
    assert faulty.failures > 30  # the faults really happened


def test_a_lease_survives_lost_answers(tmp_path: Path) -> None:
    """A create or swap whose answer was lost is retried and refused: the lease knows it is its own."""
    store, faulty = _faulty(tmp_path, fail_rate=0.5, seed=3)
    lease = Lease(store, "rs0", "archiver")
    lease.acquire()
    for _ in range(20):
        lease.renew()
    lease.release()
    assert faulty.failures > 5
    with pytest.raises(ObjectMissing):
        store.stat(lease.key)


def test_an_outage_longer_than_the_deadline_is_one_clear_error_in_time(tmp_path: Path) -> None:
    store, faulty = _faulty(tmp_path, deadline_s=1.0)
    faulty.outage = True
    started = time.monotonic()
    with pytest.raises(StorageFailed) as caught:
        store.put("backups/rs0/x/data.bson.zst", io.BytesIO(b"x"))
    assert time.monotonic() - started < 5.0
    message = caught.value.message
    assert message.startswith("upload of backups/rs0/x/data.bson.zst in file://")
    assert "attempts" in message and "injected fault" in message
    assert caught.value.exit_code == 5


def test_errors_that_retrying_cannot_fix_pass_through_at_once(tmp_path: Path) -> None:
    store, faulty = _faulty(tmp_path, deadline_s=30.0)
    with pytest.raises(ObjectMissing):
        store.get("missing")
    assert faulty.requests == 1


def test_a_listing_broken_half_way_resumes_after_its_last_key(tmp_path: Path) -> None:
    inner = FileStorage(tmp_path / "store")
    for i in range(200):
        inner.put(f"k/{i:04d}", io.BytesIO(b"."))
    faulty = FaultyStorage(inner, fail_rate=0.2, seed=11)
    keys = [o.key for o in RetryingStorage(faulty, 30.0, first_delay_s=0.001).list("k/")]
    assert keys == [f"k/{i:04d}" for i in range(200)]
    assert faulty.failures > 0
