"""Probes of issue 34 against the repository's commands: a forged manifest offered by another
repository is refused by ``repair`` (an honest mirror's copy is accepted); ``.tmp-`` leftovers
of a killed write are removed by ``cleanup``; ``info latest`` names a damaged newest backup it
skips; damage reported to a file or a pipe carries no console markup."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bson import Timestamp

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.repo.manifest import Manifest
from mongo_lifeboat.repo.mirror import Member, MirrorStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import to_str

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool


def _mirrored(tmp_path: Path) -> tuple[Repository, Repository, Repository]:
    a = Repository.init("file://" + str(tmp_path / "a"))
    b = Repository.init("file://" + str(tmp_path / "b"))
    return a, b, Repository(MirrorStorage([Member("a", a.storage), Member("b", b.storage)]), a.info)


def test_repair_refuses_a_forged_manifest_and_accepts_an_honest_copy(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    a, b, both = _mirrored(tmp_path)
    source = seeded_source(200)
    src = source.client()
    assert "Customers" in src.shop.list_collection_names()
    manifest = run_backup(both, BackupOptions(source.uri))
    key = f"{manifest.collections[0].files[0].key.split('/')[0]}/backups/{manifest.backup_id}/manifest.json"
    (tmp_path / "a" / key).write_text("garbage{")  # the local manifest is damaged
    assert lifeboat("verify", "--all", "--repo", a.url).code == 11

    later = Timestamp(manifest.end.time + 30, 1)
    forgeries: dict[str, Manifest] = {
        "Customers dropped, end moved": manifest.model_copy(
            update={
                "collections": [c for c in manifest.collections if c.ns != "shop.Customers"],
                "end_ts": to_str(later),
            }
        ),
        "end moved": manifest.model_copy(update={"end_ts": to_str(later)}),
        "Customers dropped": manifest.model_copy(
            update={"collections": [c for c in manifest.collections if c.ns != "shop.Customers"]}
        ),
    }
    for what, forged in forgeries.items():
        b.write_manifest(forged)
        res = lifeboat("repair", "--from", b.url, "--repo", a.url, "--json")
        assert res.code == 11, (what, res.stderr)
        failed = res.json()["failed"]
        assert [f["object"] for f in failed] == [key], what
        assert "is not this backup's manifest" in failed[0]["problem"], (what, failed)
        assert lifeboat("verify", "--all", "--repo", a.url).code == 11, what  # still damaged

    b.write_manifest(manifest)  # the honest mirror's copy
    res = lifeboat("repair", "--from", b.url, "--repo", a.url, "--json")
    assert res.code == 0, res.stderr
    assert res.json()["repaired"] == [key]
    assert lifeboat("verify", "--all", "--repo", a.url).code == 0
    target = servers.new()
    assert lifeboat("restore", "latest", "--repo", a.url, "--target", target.uri).code == 0
    assert_same(target.client(), src)  # shop.Customers included


def test_cleanup_removes_leftovers_of_killed_writes_but_not_fresh_ones(tmp_path: Path) -> None:
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    folder = tmp_path / "repo" / "rs0" / "backups" / "20261201T000000Z" / "data" / "shop"
    folder.mkdir(parents=True)
    old = folder / ".tmp-orders.0.bson.zst-abc123"
    old.write_bytes(b"half an object")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    fresh = folder / ".tmp-orders.1.bson.zst-def456"  # a write that may still be going on
    fresh.write_bytes(b"being written")

    dry = lifeboat("cleanup", "--repo", repo.url, "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert old.exists() and [p.endswith(old.name) for p in dry.json()["partial_objects"]] == [True]
    res = lifeboat("cleanup", "--repo", repo.url, "--json")
    assert res.code == 0, res.stderr
    assert not old.exists() and fresh.exists()
    assert len(res.json()["partial_objects"]) == 1


def test_info_latest_names_the_damaged_newest_backup_it_skips(
    servers: ServerPool, seeded_source: SeededSource, repo: Repository
) -> None:
    source = seeded_source(50)
    older = run_backup(repo, BackupOptions(source.uri))
    newer = run_backup(repo, BackupOptions(source.uri))
    key = f"{newer.collections[0].files[0].key.split('/')[0]}/backups/{newer.backup_id}/manifest.json"
    (Path(repo.url.removeprefix("file://")) / key).write_text("garbage{")
    target = servers.new()
    for args in (("info", "latest"), ("restore", "latest", "--dry-run", "--target", target.uri)):
        res = lifeboat(*args, "--repo", repo.url)
        assert res.code == 0, res.stderr
        assert older.backup_id in res.stdout
        assert f"the newest backup {newer.backup_id} is damaged" in res.stderr, res.stderr


def test_damage_reported_to_a_pipe_carries_no_markup(seeded_source: SeededSource, repo: Repository) -> None:
    source = seeded_source(50)
    manifest = run_backup(repo, BackupOptions(source.uri))
    data = Path(repo.url.removeprefix("file://")) / manifest.collections[0].files[0].key
    body = bytearray(data.read_bytes())
    body[len(body) // 2] ^= 0x40
    data.write_bytes(bytes(body))
    other = Repository.init(repo.url + "-other")
    for args in (("verify", "--all"), ("verify", "--sample"), ("repair", "--from", other.url)):
        res = lifeboat(*args, "--repo", repo.url)
        assert res.code == 11, (args, res.stderr)
        assert "[red]" not in res.stdout + res.stderr and "[/" not in res.stdout + res.stderr, args
