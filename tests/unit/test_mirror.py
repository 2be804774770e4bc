"""Several repositories as one storage (``repo.mirror``): written to each that is up, read from
the first that has a good copy."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mongo_lifeboat.errors import IntegrityError, LeaseHeld, RepositoryError
from mongo_lifeboat.events import Update
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.lease import Lease
from mongo_lifeboat.repo.mirror import Member, MirrorStorage
from mongo_lifeboat.repo.objects import put_object, read_verified
from mongo_lifeboat.repo.retrying import RetryingStorage
from mongo_lifeboat.repo.storage import ObjectMissing

from ..support.faulty_storage import FaultyStorage


def _mirror(
    tmp_path: Path, names: str = "abc"
) -> tuple[MirrorStorage, dict[str, FaultyStorage], list[Update]]:
    faulty = {n: FaultyStorage(FileStorage(tmp_path / n)) for n in names}
    mirror = MirrorStorage(
        [Member(n, RetryingStorage(f, 0.2, first_delay_s=0.01)) for n, f in faulty.items()]
    )
    notices: list[Update] = []
    mirror.listeners.append(notices.append)
    return mirror, faulty, notices


def _has(faulty: FaultyStorage, key: str) -> bool:
    try:
        faulty.inner.stat(key)
        return True
    except ObjectMissing:
        return False


def test_writes_reach_every_repository_and_one_that_fails_is_left_out_once(tmp_path: Path) -> None:
    mirror, faulty, notices = _mirror(tmp_path)
    mirror.put("one", io.BytesIO(b"1"))
    assert all(_has(f, "one") for f in faulty.values())
    faulty["b"].outage = True
    mirror.put("two", io.BytesIO(b"2"))
    mirror.put("three", io.BytesIO(b"3"))
    assert [_has(f, "two") for f in faulty.values()] == [True, False, True]
    assert [(n.facts["member"], n.name) for n in notices] == [("b", "down")]  # said once, not per object
    assert "left out" in notices[0].message and "upload of two" in notices[0].message
    # Reads: the union, each key from the first repository that has it.
    faulty["b"].outage = False
    mirror.revive(mirror.members[1])
    assert [o.key for o in mirror.list()] == ["one", "three", "two"]
    with mirror.get("two") as f:
        assert f.read() == b"2"


def test_when_every_repository_is_down_the_write_fails(tmp_path: Path) -> None:
    mirror, faulty, _ = _mirror(tmp_path, "ab")
    for f in faulty.values():
        f.outage = True
    with pytest.raises(RepositoryError, match="upload of k"):
        mirror.put("k", io.BytesIO(b"x"))
    with pytest.raises(RepositoryError, match="every repository"):
        mirror.put("k2", io.BytesIO(b"x"))


def test_a_copy_that_fails_its_checksum_is_read_from_the_next_repository(tmp_path: Path) -> None:
    mirror, _, notices = _mirror(tmp_path, "ab")
    entry = put_object(mirror, "backups/x/data.bson.zst", b"\x05\x00\x00\x00\x00" * 100, 100)
    victim = tmp_path / "a" / "backups" / "x" / "data.bson.zst"
    victim.write_bytes(victim.read_bytes()[:-2] + b"zz")
    assert read_verified(mirror, entry) == b"\x05\x00\x00\x00\x00" * 100
    assert [(n.facts["member"], n.name) for n in notices] == [("a", "fallback")]
    assert "checksum mismatch" in notices[0].message and "reading it from b" in notices[0].message
    # Both bad: the error names the object.
    other = tmp_path / "b" / "backups" / "x" / "data.bson.zst"
    other.write_bytes(victim.read_bytes())
    with pytest.raises(IntegrityError, match=r"data\.bson\.zst"):
        read_verified(mirror, entry)


def test_leases_hold_in_every_repository(tmp_path: Path) -> None:
    mirror, faulty, _ = _mirror(tmp_path, "ab")
    lease = Lease(mirror, "rs0", "archiver")
    lease.acquire()
    assert _has(faulty["a"], lease.key) and _has(faulty["b"], lease.key)
    lease.renew()
    # Someone else holds it in one repository: nobody gets it through the mirror, and the
    # half we created is undone.
    lease.release()
    other = Lease(FileStorage(tmp_path / "b"), "rs0", "archiver")
    other.acquire()
    contender = Lease(mirror, "rs0", "archiver")
    with pytest.raises(LeaseHeld, match=r"holds the lease|contended"):
        contender.acquire()
    assert not _has(faulty["a"], lease.key)


def test_a_repository_that_comes_back_gets_the_lease_created_on_renewal(tmp_path: Path) -> None:
    mirror, faulty, _ = _mirror(tmp_path, "ab")
    faulty["b"].outage = True
    lease = Lease(mirror, "rs0", "archiver")
    lease.acquire()
    assert mirror.members[1].down is not None
    faulty["b"].outage = False
    mirror.revive(mirror.members[1])
    lease.renew()
    assert _has(faulty["b"], lease.key)
