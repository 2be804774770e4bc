"""Acceptance (issue 9, several repositories): the source is read once and every repository of
the plan gets the backup and the archive; one that is down does not stop the others, is
reported, and is caught up when it returns; reads fall back past a bad copy."""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.events import Update
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.mirror import Member, MirrorStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.repo.retrying import RetryingStorage

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.faulty_storage import FaultyStorage
from ..support.servers import SeededSource, ServerPool
from ..support.waiting import wait_for
from ..support.webhook import webhook


def _pair(tmp_path: Path, **faults: float) -> tuple[Repository, FaultyStorage, list[Update]]:
    """Repositories ``a`` (healthy) and ``b`` (behind a fault injector), as one."""
    a = Repository.init("file://" + str(tmp_path / "a"))
    Repository.init("file://" + str(tmp_path / "b"))
    faulty = FaultyStorage(FileStorage(tmp_path / "b"), **faults)  # type: ignore[arg-type]
    b = RetryingStorage(faulty, 0.5, first_delay_s=0.01)
    repo = Repository(MirrorStorage([Member("a", a.storage), Member("b", b)]), a.info)
    notices: list[Update] = []
    assert repo.mirror is not None
    repo.mirror.listeners.append(notices.append)
    return repo, faulty, notices


def test_a_repository_lost_half_way_through_a_backup_gets_no_manifest(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(400)
    src = source.client()
    repo, _, notices = _pair(tmp_path, outage_after=8)
    manifest = run_backup(repo, BackupOptions(source.uri, jobs=2, chunk_bytes=16 << 10))
    assert [(n.facts["member"], n.name) for n in notices] == [("b", "down")]
    a, b = Repository.open("file://" + str(tmp_path / "a")), Repository.open("file://" + str(tmp_path / "b"))
    assert [x.backup_id for x in a.list_backups() if x.complete] == [manifest.backup_id]
    assert [x.complete for x in b.list_backups()] == [False]  # incomplete there: never used
    target = servers.new()
    assert lifeboat("restore", manifest.backup_id, "--repo", a.url, "--target", target.uri).code == 0
    assert_same(src, target.client())


def test_the_archiver_catches_up_a_repository_that_comes_back(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src = source.client()
    repo, faulty, notices = _pair(tmp_path)
    deployment = run_backup(repo, BackupOptions(source.uri)).deployment
    faulty.outage = True  # b goes away
    with archiving(repo, source.uri, segment_bytes=2 << 10) as stats:
        src.shop.orders.insert_many(
            [{"_id": f"while-down-{i}", "qty": i, "pad": "x" * 100} for i in range(100)]
        )
        wait_for(lambda: stats.segments >= 3, "segments written to a while b is down")
        assert repo.mirror is not None and repo.mirror.members[1].down is not None
        faulty.outage = False  # b is back: the archiver notices within catch_up_s
        wait_for(lambda: repo.mirror is not None and repo.mirror.members[1].down is None, "b to be caught up")
        src.shop.orders.insert_many([{"_id": f"after-{i}", "qty": i, "pad": "y" * 100} for i in range(100)])
        wait_for(lambda: stats.segments >= 6, "segments after b came back")
    assert [n.name for n in notices if n.facts["member"] == "b"] == ["down", "revived"]
    a_storage, b_storage = FileStorage(tmp_path / "a"), FileStorage(tmp_path / "b")
    a_segments = [s.key for s in list_segments(a_storage, deployment)]
    assert a_segments and [s.key for s in list_segments(b_storage, deployment)] == a_segments
    # b alone restores to the end of the archive.
    b = Repository.open(b_storage.url)
    assert (
        load_history(b).timeline.archived_to
        == load_history(Repository.open(a_storage.url)).timeline.archived_to
    )
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--repo", b.url, "--target", target.uri)
    assert res.code == 0, res.stderr
    assert_same(src, target.client())


def test_a_plan_with_several_repositories(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(150)
    src = source.client()
    urls = {name: "file://" + str(tmp_path / name) for name in ("eu", "us", "ap")}
    for name in ("eu", "us"):  # ap is not there (yet)
        assert lifeboat("init", "--repo", urls[name]).code == 0
    with webhook() as hook:
        plan = tmp_path / "plan.toml"
        plan.write_text(
            f'[deployment]\nsource = "{source.uri}"\n[alerts]\nnotify = ["{hook.url}"]\n'
            + "".join(f'[[repository]]\nname = "{n}"\nurl = "{u}"\n' for n, u in urls.items())
        )
        res = lifeboat("--config", str(plan), "backup", "--json")
        assert res.code == 0, res.stderr
        out = res.json()
        assert out["repositories"]["eu"] == out["repositories"]["us"] == "complete"
        assert out["repositories"]["ap"].startswith("missed: open: no Lifeboat repository")
        assert "repository ap" in res.stderr and "going on without it" in res.stderr
        events = [(p["title"], p["message"]) for p in hook.payloads()]
    assert any("backup warning" in t and "NOT in repository ap" in m for t, m in events), events
    backup_id = out["backup_id"]
    for name in ("eu", "us"):
        listed = lifeboat("list", "--repo", urls[name], "--json").json()
        assert [b["backup_id"] for b in listed["backups"] if b["status"] == "complete"] == [backup_id]

    # A damaged object in the first repository: the restore reads that object from the next.
    manifest = Repository.open(urls["eu"]).resolve(backup_id)
    victim = tmp_path / "eu" / manifest.collections[0].files[0].key
    victim.write_bytes(victim.read_bytes()[:-4] + b"\x00bad")
    target = servers.new()
    res = lifeboat("--config", str(plan), "restore", "latest", "--target", target.uri)
    assert res.code == 0, res.stderr
    assert (
        f"{manifest.collections[0].files[0].key} in repository eu cannot be used (checksum mismatch"
        in res.stderr
    )
    assert "reading it from us" in res.stderr
    assert_same(src, target.client())
