"""Issue 20 (also): ``lifeboat repair`` copies a good copy from a second repository over each
damaged object — a backup's data file, a manifest, a segment — checked there, written here and
checked again; an object with no good copy anywhere stays damaged and is named."""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.repo.mirror import Member, MirrorStorage
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool


def _flip(path: Path) -> None:
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0x40
    path.write_bytes(bytes(body))


def test_repair_copies_good_copies_over_damaged_objects(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    a = Repository.init("file://" + str(tmp_path / "a"))
    b = Repository.init("file://" + str(tmp_path / "b"))
    both = Repository(MirrorStorage([Member("a", a.storage), Member("b", b.storage)]), a.info)
    source = seeded_source(300)
    src = source.client()
    first = run_backup(both, BackupOptions(source.uri, chunk_bytes=8 << 10))
    with archiving(both, source.uri, segment_bytes=1 << 10):
        for i in range(30):
            src.shop.notes.insert_one({"_id": f"late-{i}", "pad": "z" * 200})
    second = run_backup(both, BackupOptions(source.uri, chunk_bytes=8 << 10))
    segments = load_history(a).segments
    assert len(segments) >= 4

    # In a: a data file of the first backup, the second's manifest and two segments are damaged;
    # one of those segments is damaged in b as well (no good copy anywhere).
    data_file = first.collections[0].files[0].key
    _flip(tmp_path / "a" / data_file)
    manifest_key = f"{data_file.split('/')[0]}/backups/{second.backup_id}/manifest.json"
    (tmp_path / "a" / manifest_key).write_text("garbage{")
    healable, lost = segments[1], segments[2]
    for path in (tmp_path / "a" / healable.key, tmp_path / "a" / lost.key, tmp_path / "b" / lost.key):
        _flip(path)
    before = (tmp_path / "a" / data_file).read_bytes()

    assert lifeboat("verify", "--all", "--repo", a.url).code == 11  # finds them, and records them
    dry = lifeboat("repair", "--from", b.url, "--repo", a.url, "--dry-run", "--json")
    assert dry.code == 11, dry.stderr
    assert (tmp_path / "a" / data_file).read_bytes() == before  # a dry run writes nothing
    assert set(dry.json()["repaired"]) == {data_file, manifest_key, healable.key}

    res = lifeboat("repair", "--from", b.url, "--repo", a.url, "--json")
    assert res.code == 11, res.stderr
    assert set(res.json()["repaired"]) == {data_file, manifest_key, healable.key}
    failed = res.json()["failed"]
    assert [f["object"] for f in failed] == [lost.key] and b.url in failed[0]["problem"]

    verified = lifeboat("verify", "--all", "--repo", a.url, "--json")
    assert verified.code == 11
    assert [p["object"] for r in verified.json()["backups"] for p in r["problems"]] == [lost.key]
    timeline = lifeboat("timeline", "--repo", a.url, "--json").json()
    assert [d["key"] for d in timeline["damaged_segments"]] == [lost.key]
    # The repaired backups restore from a alone, whole.
    target = servers.new()
    assert lifeboat("restore", second.backup_id, "--repo", a.url, "--target", target.uri).code == 0
    assert_same(target.client(), src)
