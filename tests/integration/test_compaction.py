"""Compaction (issue 36): segments merged as they age hold exactly the entries they replace; killed
at any point it converges; beside a running archiver, across mirrors and under Object Lock.

"Restorable to every second as before" is shown where a restore gets it: the entries a restore to
each second replays, byte for byte, are the same before and after; two restores (a past second
and the latest) are compared by content hashes besides."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.backup.prune import prune
from mongo_lifeboat.backup.retention import Policy
from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.catalog.points import LATEST, Point
from mongo_lifeboat.demo import workload
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.compaction import Level, compact
from mongo_lifeboat.oplog.segments import all_segments, entry_ts, iter_raw_entries, list_segments
from mongo_lifeboat.repo import layout
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.verify.integrity import verify_segments

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.cli import child_env, lifeboat
from ..support.data import assert_same
from ..support.s3 import make_bucket, s3_server
from ..support.servers import SeededSource, Server, ServerPool
from ..support.waiting import wait_for

PER_SECOND = [Level(0.0, 1)]  # every whole second already past, merged per second: a test's scale


def _next_second() -> None:
    """Let the clock pass into the next whole second (so writes fall in several windows)."""
    target = int(time.time()) + 1
    wait_for(lambda: time.time() >= target, "the next second")


def _write_history(src: Any, repo: Repository, source: Server, rounds: int = 4) -> None:
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri, segment_bytes=2 << 10):
        for r in range(rounds):
            for i in range(60):
                src.shop.notes.insert_one({"_id": f"n{r}-{i}", "pad": "x" * 120, "r": r})
            src.shop.orders.update_many({"qty": {"$lt": 10 * (r + 1)}}, {"$inc": {"qty": 1}})
            _next_second()
        wait_archived(repo, newest_ts(src))


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    """One source and its archive of many small segments over several seconds, built once."""
    pool = ServerPool()
    try:
        source = pool.new()
        src: Any = source.client()
        workload.seed(src, 200)
        path = tmp_path_factory.mktemp("archived") / "repo"
        repo = Repository.init("file://" + str(path))
        _write_history(src, repo, source)
        yield path, source
    finally:
        pool.close()


def _copy(archived: tuple[Path, Server], tmp_path: Path) -> Repository:
    shutil.copytree(archived[0], tmp_path / "repo")
    return Repository.open("file://" + str(tmp_path / "repo"))


def _replayed(repo: Repository) -> list[bytes]:
    dep = load_history(repo).deployment
    return list(iter_raw_entries(repo.storage, list_segments(repo.storage, dep)))


def _through_each_second(entries: list[bytes]) -> dict[int, list[bytes]]:
    """What a restore to each second replays (entries before it)."""
    seconds = sorted({entry_ts(e).time for e in entries})
    return {s: [e for e in entries if entry_ts(e).time < s] for s in [*seconds, seconds[-1] + 1]}


def _windows(repo: Repository) -> list[tuple[Timestamp, Timestamp]]:
    return [(w.start, w.end) for w in load_history(repo).timeline.windows]


def test_merged_segments_hold_exactly_the_entries_they_replace(
    archived: tuple[Path, Server], servers: ServerPool, tmp_path: Path
) -> None:
    repo = _copy(archived, tmp_path)
    dep = load_history(repo).deployment
    before, windows = _replayed(repo), _windows(repo)
    many = len(list_segments(repo.storage, dep))

    dry = compact(repo, dep, PER_SECOND, dry_run=True)
    assert dry.merged >= 2 and len(all_segments(repo.storage, dep)) == many  # nothing written
    report = compact(repo, dep, PER_SECOND)
    assert (report.merged, report.replaced) == (dry.merged, dry.replaced)
    after = list_segments(repo.storage, dep)
    assert report.segments_after == len(after) < many
    assert len(all_segments(repo.storage, dep)) == len(after)  # the sources are gone
    assert _replayed(repo) == before  # byte for byte, in order, none twice
    assert _windows(repo) == windows
    assert verify_segments(repo.storage, dep).problems == []
    # Each merged segment carries the proof of what it replaced.
    proofs = list(repo.storage.list(layout.merge_proof_prefix(dep)))
    assert len(proofs) == report.merged
    # Every second restorable before still replays the same entries; a restore to a past second
    # equals the same restore from the archive as it was, and the latest equals the source.
    pristine = Repository.open("file://" + str(archived[0]))
    seconds = _through_each_second(before)
    assert _through_each_second(_replayed(repo)) == seconds
    middle = sorted(seconds)[len(seconds) // 2]
    point = Point.parse(f"{middle}:0")
    restored = []
    for r in (repo, pristine):
        target = servers.new()
        plan, pitr = choose_restore(r, "latest", point, None, NamespaceMap.build())
        run_restore(r, plan, target.client(), RestoreOptions(jobs=2), pitr=pitr)
        restored.append(target.client())
    assert_same(restored[0], restored[1])
    target = servers.new()
    plan, pitr = choose_restore(repo, "latest", LATEST, None, NamespaceMap.build())
    assert pitr is not None and len(pitr.segments) < many
    run_restore(repo, plan, target.client(), RestoreOptions(jobs=2), pitr=pitr)
    assert_same(archived[1].client(), target.client())
    # A second run finds nothing more to merge at this level: compaction is idempotent.
    again = compact(repo, dep, PER_SECOND)
    assert again.merged == 0 and _replayed(repo) == before


def test_a_restore_planned_before_a_merge_still_reads_its_sources_through_the_grace(
    archived: tuple[Path, Server], servers: ServerPool, tmp_path: Path
) -> None:
    """A restore lists the archive, then compaction merges what it chose: the sources stay for
    the grace, so the restore reads them whole; the run after the grace lets them go."""
    repo = _copy(archived, tmp_path)
    dep = load_history(repo).deployment
    before = _replayed(repo)
    plan, pitr = choose_restore(repo, "latest", LATEST, None, NamespaceMap.build())  # listed now
    assert pitr is not None
    merged_at = datetime.now(UTC)
    report = compact(repo, dep, PER_SECOND, now=merged_at, grace_s=600.0)
    assert report.merged >= 2 and report.deleted == 0
    assert len(all_segments(repo.storage, dep)) > len(list_segments(repo.storage, dep))  # held twice
    assert _replayed(repo) == before  # read once: the merged segments, not their sources too
    target = servers.new()
    run_restore(repo, plan, target.client(), RestoreOptions(jobs=2), pitr=pitr)  # the old listing
    assert_same(archived[1].client(), target.client())
    # Within the grace nothing is deleted; after it, the sources go and the archive reads the same.
    assert compact(repo, dep, PER_SECOND, now=merged_at + timedelta(seconds=599), grace_s=600.0).deleted == 0
    later = compact(repo, dep, PER_SECOND, now=merged_at + timedelta(seconds=601), grace_s=600.0)
    assert later.deleted == report.replaced and later.merged == 0
    assert len(all_segments(repo.storage, dep)) == len(list_segments(repo.storage, dep))
    assert _replayed(repo) == before and verify_segments(repo.storage, dep).problems == []


def test_prune_takes_a_merged_segment_with_the_sources_it_still_holds(
    archived: tuple[Path, Server], tmp_path: Path
) -> None:
    """Pruned while its sources are kept (the grace), a merged segment takes them along: left
    behind, they would read as an archive of their own, with a gap after it."""
    repo = _copy(archived, tmp_path)
    dep = load_history(repo).deployment
    report = compact(repo, dep, PER_SECOND, grace_s=600.0)
    assert report.merged >= 2 and len(all_segments(repo.storage, dep)) > len(list_segments(repo.storage, dep))
    newest = run_backup(repo, BackupOptions(archived[1].uri))  # a newer base: what came before may go
    history = load_history(repo)
    pruned = prune(repo, history, Policy(keep_last=1), grace_s=0.0, dry_run=False)
    assert pruned.deleted_segments > len(history.segments) - len(list_segments(repo.storage, dep))
    left = all_segments(repo.storage, dep)
    assert left == list_segments(repo.storage, dep)  # nothing hidden left behind
    assert all(s.end > newest.end for s in left)  # the archive before the kept base is gone whole
    assert not any(repo.storage.list(layout.merge_proof_prefix(dep)))  # and the proofs of its merges
    after = load_history(repo)
    assert not after.timeline.gaps and [m.backup_id for m in after.manifests] == [newest.backup_id]


_COMPACT = """
import sys
from mongo_lifeboat.oplog.compaction import Level, compact
from mongo_lifeboat.repo.repository import Repository
compact(Repository.open(sys.argv[1]), sys.argv[2], [Level(0.0, 1)])
"""


def _kill_compaction_at(repo: Repository, dep: str, point: str) -> None:
    """Compaction in a process of its own, SIGKILLed at the fault point ``point``."""
    killed = subprocess.run(
        [sys.executable, "-c", _COMPACT, repo.url, dep],
        env={**child_env(), "LIFEBOAT_FAULT": point},
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]


@pytest.mark.parametrize(
    "point",
    [
        "compact-proof-written",
        "compact-merged-written",
        "compact-merged-read-back",
        "compact-source-deleted",
    ],
)
def test_compaction_killed_at_each_fault_point_converges(
    archived: tuple[Path, Server], tmp_path: Path, point: str
) -> None:
    repo = _copy(archived, tmp_path)
    dep = load_history(repo).deployment
    before, windows = _replayed(repo), _windows(repo)
    _kill_compaction_at(repo, dep, point)
    # Killed: whatever is held twice is read once; nothing is lost, the timeline is as it was.
    assert _replayed(repo) == before
    assert _windows(repo) == windows
    held = all_segments(repo.storage, dep)
    if point != "compact-proof-written":
        assert len(held) > len(list_segments(repo.storage, dep))  # the merge and (some of) its sources
    # The next run settles it: no stretch held twice, the same entries, verify clean.
    report = compact(repo, dep, PER_SECOND)
    settled = all_segments(repo.storage, dep)
    assert len(settled) == len(list_segments(repo.storage, dep)) == report.segments_after
    assert _replayed(repo) == before
    assert _windows(repo) == windows
    assert verify_segments(repo.storage, dep).problems == []
    assert _through_each_second(_replayed(repo)) == _through_each_second(before)


def test_a_merge_that_does_not_read_back_is_undone_while_its_sources_remain(
    archived: tuple[Path, Server], tmp_path: Path
) -> None:
    repo = _copy(archived, tmp_path)
    dep = load_history(repo).deployment
    before = _replayed(repo)
    _kill_compaction_at(repo, dep, "compact-merged-written")
    merged = next(
        s for s in list_segments(repo.storage, dep) if s.key not in {x.key for x in _sources(repo, dep)}
    )
    path = tmp_path / "repo" / merged.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the merged object rots before the next run reads it back
    path.write_bytes(bytes(data))
    report = compact(repo, dep, PER_SECOND)
    assert merged.key in report.undone
    assert _replayed(repo) == before  # from its sources (then merged again, properly)
    assert verify_segments(repo.storage, dep).problems == []


def _sources(repo: Repository, dep: str) -> list[Any]:
    """The segments a killed merge left beside it (contained in another)."""
    picked = {s.key for s in list_segments(repo.storage, dep)}
    return [s for s in all_segments(repo.storage, dep) if s.key not in picked]


def test_compaction_beside_a_running_archiver(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src: Any = source.client()
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    merged = 0
    with archiving(repo, source.uri, segment_bytes=2 << 10):
        for r in range(4):
            for i in range(50):
                src.shop.notes.insert_one({"_id": f"n{r}-{i}", "pad": "y" * 100})
            _next_second()
            wait_archived(repo, newest_ts(src))
            dep = load_history(repo).deployment
            merged += compact(repo, dep, PER_SECOND).merged  # while the archiver appends
        for i in range(50):
            src.shop.notes.insert_one({"_id": f"last-{i}"})
        wait_archived(repo, newest_ts(src))
    assert merged >= 2
    history = load_history(repo)
    assert len(history.timeline.windows) == 1 and not history.timeline.gaps
    # Exactly the source's oplog since the base, each entry once.
    base_end = history.manifests[0].end
    archived_ts = [entry_ts(e) for e in _replayed(repo)]
    oplog_ts = [e["ts"] for e in src.local["oplog.rs"].find({"ts": {"$gt": base_end}}).sort("$natural", 1)]
    assert [t for t in archived_ts if t > base_end] == oplog_ts
    target = servers.new()
    plan, pitr = choose_restore(repo, "latest", LATEST, None, NamespaceMap.build())
    run_restore(repo, plan, target.client(), RestoreOptions(jobs=2), pitr=pitr)
    assert_same(src, target.client())


def test_each_mirror_is_compacted_on_its_own(archived: tuple[Path, Server], tmp_path: Path) -> None:
    """``lifeboat compact`` walks the plan's repositories; a merge in one never deletes in another."""
    shutil.copytree(archived[0], tmp_path / "a")
    shutil.copytree(archived[0], tmp_path / "b")
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[[repository]]\nname = "a"\nurl = "file://{tmp_path / "a"}"\n'
        f'[[repository]]\nname = "b"\nurl = "file://{tmp_path / "b"}"\n'
        '[archiver]\nmerge_grace = "0s"\n'
    )
    repos = [Repository.open(f"file://{tmp_path / n}") for n in "ab"]
    before = _replayed(repos[0])
    dep = load_history(repos[0]).deployment
    # The plan's levels (a minute after an hour) have nothing to merge yet in a history seconds old.
    dry = lifeboat("--config", str(plan), "compact", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert [r["repository"] for r in dry.json()["repositories"]] == [f"file://{tmp_path / n}" for n in "ab"]
    assert [r["merged"] for r in dry.json()["repositories"]] == [0, 0]
    res = lifeboat("--config", str(plan), "compact", "--merge", "0s:1s", "--json")
    assert res.code == 0, res.stderr
    done = res.json()["repositories"]
    assert len(done) == 2 and all(r["merged"] >= 1 for r in done)
    assert done[0]["segments_after"] == done[1]["segments_after"]
    for repo in repos:
        assert _replayed(repo) == before
        assert verify_segments(repo.storage, dep).problems == []
        assert len(all_segments(repo.storage, dep)) == len(list_segments(repo.storage, dep))


def test_object_lock_keeps_the_sources_until_they_may_go(seeded_source: SeededSource, tmp_path: Path) -> None:
    with s3_server() as endpoint:
        bucket = "locked-" + uuid.uuid4().hex[:12]
        make_bucket(endpoint, bucket, object_lock=True)
        url = f"s3://{bucket}/prod"
        plan = tmp_path / "plan.toml"
        plan.write_text(f'[[repository]]\nurl = "{url}"\nobject_lock_days = 1\n')
        assert lifeboat("--config", str(plan), "init").code == 0
        from mongo_lifeboat import config

        repo = Repository.open(url, config.repository_settings(url, config.load_plan(plan)))
        source = seeded_source(50)
        src: Any = source.client()
        _write_history(src, repo, source, rounds=3)
        dep = load_history(repo).deployment
        before, windows = _replayed(repo), _windows(repo)
        report = compact(repo, dep, PER_SECOND)
        assert report.merged >= 1
        assert len(report.locked) == report.replaced and report.deleted == 0  # each source stays, locked
        # Held twice, read once: the same entries and the same timeline.
        assert _replayed(repo) == before and _windows(repo) == windows
        assert len(all_segments(repo.storage, dep)) > len(list_segments(repo.storage, dep))
        # A later run does not redo the merge, nor read it back while every source is still locked.
        again = compact(repo, dep, PER_SECOND)
        assert again.merged == 0 and again.deleted == 0 and again.undone == []
        assert _replayed(repo) == before
