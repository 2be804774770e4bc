"""``fsyncLock`` around a snapshot: the order, the hard limit, and unlock on every path.

SecantusDB has no ``fsyncLock``, so these tests talk to a wire-level test double of a mongod
primary (``tests/support/wire_double.py``) that answers the handful of commands involved and
logs every command in order. The snapshot command itself sends a marker command to the double,
so its place in that order is logged too.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_lifeboat.repo.repository import Repository

from ..support.cli import lifeboat, popen
from ..support.waiting import wait_for
from ..support.wire_double import FakeMongod


@pytest.fixture
def double() -> Iterator[FakeMongod]:
    fake = FakeMongod()
    yield fake
    fake.close()


def _marker(uri: str, then: str = "") -> str:
    """A shell command that logs 'lifeboatSnapshotMarker' at the double, then runs ``then``."""
    send = f"import pymongo; pymongo.MongoClient('{uri}').admin.command({{'lifeboatSnapshotMarker': 1}})"
    return f'{sys.executable} -c \\"{send}\\"' + (f" && {then}" if then else "")


def _plan(tmp_path: Path, double: FakeMongod, snapshot: str, lock_timeout: str = "30s") -> tuple[Path, str]:
    repo = "file://" + str(tmp_path / "repo")
    Repository.init(repo)
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{double.uri}"\n[[repository]]\nname = "a"\nurl = "{repo}"\n'
        f'[snapshot]\nprovider = "command"\nconsistency = "fsync-lock"\nlock_timeout = "{lock_timeout}"\n'
        f'[snapshot.command]\nsnapshot = "{snapshot}"\ndelete = "touch {tmp_path / "deleted"}"\n'
    )
    return plan, repo


def _records(repo: str) -> list[str]:
    return [o.key for o in Repository.open(repo).storage.list() if "/snapshots/" in o.key]


def test_writes_are_locked_around_the_snapshot_and_the_point_is_exact(
    double: FakeMongod, tmp_path: Path
) -> None:
    plan, repo = _plan(tmp_path, double, _marker(double.uri, "echo vol-snap-1"))
    res = lifeboat("--config", str(plan), "snapshot", "--json")
    assert res.code == 0, res.stderr
    names = double.names()
    lock, marker, unlock = (
        names.index("fsync"),
        names.index("lifeboatSnapshotMarker"),
        names.index("fsyncUnlock"),
    )
    assert lock < marker < unlock  # the snapshot is taken while writes are locked
    assert "find" in names[lock:marker]  # the consistent point is read under the lock
    snap = res.json()
    assert snap["consistent_from"] == snap["consistent_to"] == f"{double.newest.time}:{double.newest.inc}"
    assert snap["exact"] and snap["provider_ids"] == ["vol-snap-1"] and snap["lock_held_s"] < 30
    assert len(_records(repo)) == 1 and not double.locked


def test_a_failing_provider_still_unlocks_and_records_nothing(double: FakeMongod, tmp_path: Path) -> None:
    plan, repo = _plan(tmp_path, double, _marker(double.uri, "echo no space >&2 && exit 3"))
    res = lifeboat("--config", str(plan), "snapshot")
    assert res.code == 23 and "the snapshot command failed (exit 3): no space" in res.error_lines[0]
    assert double.names()[-1] == "fsyncUnlock" and not double.locked
    assert _records(repo) == []


def test_a_snapshot_longer_than_the_lock_limit_is_unlocked_at_the_limit_and_refused(
    double: FakeMongod, tmp_path: Path
) -> None:
    plan, repo = _plan(tmp_path, double, _marker(double.uri, "sleep 4 && echo late-snap"), lock_timeout="1s")
    res = lifeboat("--config", str(plan), "snapshot")
    assert res.code == 23 and "longer than lock_timeout" in res.error_lines[0]
    held = double.when("fsyncUnlock") - double.when("fsync")
    assert 0.9 <= held < 3.5  # writes came back at the limit, not when the slow snapshot ended
    assert _records(repo) == [] and (tmp_path / "deleted").exists()  # the unrecorded snapshot is deleted


def test_sigterm_while_locked_unlocks_and_records_nothing(double: FakeMongod, tmp_path: Path) -> None:
    plan, repo = _plan(tmp_path, double, _marker(double.uri, "sleep 60"))
    proc = popen("--config", str(plan), "snapshot")
    try:
        wait_for(lambda: "lifeboatSnapshotMarker" in double.names(), "the snapshot to be under way", 60)
        assert double.locked
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 23
        assert time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
    assert double.names()[-1] == "fsyncUnlock" and not double.locked
    assert _records(repo) == []


def test_the_ebs_provider_snapshots_tagged_volumes_waits_and_deletes(
    double: FakeMongod, tmp_path: Path
) -> None:
    """EC2 against moto's server on loopback: volumes found by their lifeboat:member tag."""
    import boto3

    from ..support.s3 import s3_server

    with s3_server() as endpoint:
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
        tags = [{"ResourceType": "volume", "Tags": [{"Key": "lifeboat:member", "Value": double.host}]}]
        volumes = [
            ec2.create_volume(AvailabilityZone="us-east-1a", Size=10, TagSpecifications=tags)["VolumeId"]
            for _ in range(2)
        ]
        ec2.create_volume(AvailabilityZone="us-east-1a", Size=10)  # another machine's: not taken
        repo = "file://" + str(tmp_path / "repo")
        Repository.init(repo)
        plan = tmp_path / "lifeboat.toml"
        base = f'[deployment]\nsource = "{double.uri}"\n[[repository]]\nname = "a"\nurl = "{repo}"\n'
        plan.write_text(base + '[snapshot]\nprovider = "ebs"\n[snapshot.ebs]\nregion = "us-east-1"\n')
        res = lifeboat("--config", str(plan), "snapshot", "--json")
        assert res.code == 0, res.stderr
        snap = res.json()
        assert sorted(snap["volumes"]) == sorted(volumes) and len(snap["provider_ids"]) == 2
        made = ec2.describe_snapshots(SnapshotIds=snap["provider_ids"])["Snapshots"]
        assert all(s["State"] == "completed" for s in made)
        assert all({"Key": "lifeboat:snapshot-id", "Value": snap["snapshot_id"]} in s["Tags"] for s in made)
        # Retention: prune keeps the newest (keep_last = 1) and deletes the older one at EC2.
        newer = lifeboat("--config", str(plan), "snapshot", "--json")
        assert newer.code == 0, newer.stderr
        pruned = lifeboat("--config", str(plan), "prune", "--keep-last", "1", "--json")
        assert pruned.code == 0, pruned.stderr
        assert [d["snapshot_id"] for d in pruned.json()["deleted_snapshots"]] == [snap["snapshot_id"]]
        remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        assert not remaining & set(snap["provider_ids"]) and set(newer.json()["provider_ids"]) <= remaining
        assert len(_records(repo)) == 1
        deleted = lifeboat("--config", str(plan), "snapshot", "delete", newer.json()["snapshot_id"])
        assert deleted.code == 0, deleted.stderr
        remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        assert not remaining & set(newer.json()["provider_ids"]) and _records(repo) == []

        # A provider that fails: writes unlocked, nothing recorded.
        plan.write_text(
            base
            + '[snapshot]\nprovider = "ebs"\n[snapshot.ebs]\nregion = "us-east-1"\nvolume_ids = ["vol-0000000000000dead"]\n'
        )
        failed = lifeboat("--config", str(plan), "snapshot")
        assert failed.code == 23 and "EBS snapshot of vol-0000000000000dead failed" in failed.error_lines[0]
        assert double.names()[-1] == "fsyncUnlock" and not double.locked and _records(repo) == []
