"""``lifeboat prune`` on a real repository: the dry run lists exactly what is then deleted, and
what the policy keeps still restores."""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool


def test_prune_keeps_what_the_policy_promises_and_dry_run_matches(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(50)
    src = source.client()
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    ids = []
    with archiving(repo, source.uri):
        for round_ in range(3):
            src.shop.orders.insert_many([{"_id": f"r{round_}-{i}", "qty": i} for i in range(20)])
            ids.append(run_backup(repo, BackupOptions(source.uri)).backup_id)
        src.shop.orders.insert_many([{"_id": f"after-{i}", "qty": i} for i in range(20)])
    before = load_history(repo)
    old_segments = [s for s in before.segments if s.end <= before.manifests[-1].end]
    env = {"LIFEBOAT_REPO": repo.url}

    incomplete = tmp_path / "repo" / repo.list_backups()[0].deployment_key / "backups" / "20200101T000000Z"
    incomplete.mkdir(parents=True)
    (incomplete / "data.bson.zst").write_bytes(b"left by a killed backup")

    dry = lifeboat("prune", "--keep-last", "1", "--dry-run", "--json", env=env)
    assert dry.code == 0, dry.stderr
    planned = dry.json()
    assert sorted(b["backup_id"] for b in planned["deleted_backups"]) == sorted(
        [*ids[:2], "20200101T000000Z"]
    )
    assert planned["kept"] == {ids[2]: ["last"]}
    assert planned["deleted_segments"] == len(old_segments) > 0
    assert load_history(repo).segments == before.segments  # the dry run deleted nothing

    real = lifeboat("prune", "--keep-last", "1", "--json", env=env)
    assert real.code == 0, real.stderr
    done = real.json()
    assert {k: v for k, v in done.items() if k != "dry_run"} == {
        k: v for k, v in planned.items() if k != "dry_run"
    }
    after = load_history(repo)
    assert [m.backup_id for m in after.manifests] == [ids[2]]
    assert [b.backup_id for b in repo.list_backups()] == [ids[2]]
    assert after.segments == [s for s in before.segments if s not in old_segments]
    # What was kept restores: the newest base plus the archive after it, to the latest point.
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, env=env)
    assert res.code == 0, res.stderr
    assert_same(src, target.client())


def test_prune_without_a_policy_is_refused(seeded_source: SeededSource, tmp_path: Path) -> None:
    source = seeded_source(10)
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    res = lifeboat("prune", "--repo", repo.url)
    assert res.code == 2 and "no retention policy" in res.error_lines[0]
    assert len(repo.list_backups()) == 1
