"""Acceptance (issue 10): a point-in-time base must prove its consistent point.

A dump exported from an old backup and imported under the live deployment carries an
empty oplog.bson: nothing in it proves when its data was read (its file time is when the
export ran). It restores as it is, but is never the base of a point-in-time restore.
"""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool


def test_a_stale_import_is_never_chosen_as_a_point_in_time_base(
    servers: ServerPool, seeded_source: SeededSource, repo: Repository, tmp_path: Path
) -> None:
    source = seeded_source(300)
    src = source.client()
    old = run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri):
        first = workload.Writer(src, 300, rng_seed=4, max_ops=150).start()
        first.ops_done.wait()
        first.stop()
        dump = tmp_path / "old-dump"
        exported = lifeboat(
            "export", old.backup_id, "--repo", repo.url, "--format", "mongodump-dir", "--out", str(dump)
        )
        assert exported.code == 0, exported.stderr
        imported = lifeboat(
            "import-mongodump", str(dump), "--repo", repo.url, "--deployment", old.deployment, "--json"
        )
        assert imported.code == 0, imported.stderr
        assert imported.json()["imported_from"]["has_oplog"] is False  # an empty oplog.bson proves nothing
        src.shop.orders.insert_many([{"_id": f"late-{i}", "qty": i} for i in range(200)])  # after the import
    timeline = lifeboat("timeline", "--repo", repo.url, "--json").json()
    assert imported.json()["backup_id"] not in {b for w in timeline["windows"] for b in w["backups"]}
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", repo.url, "--json")
    assert res.code == 0, res.stderr
    assert res.json()["backup_id"] == old.backup_id
    assert_same(target.client(), src)  # nothing the writer or the late inserts wrote is missing
    # As it is, the import still restores (to its own data).
    whole = servers.new()
    res = lifeboat("restore", imported.json()["backup_id"], "--target", whole.uri, "--repo", repo.url)
    assert res.code == 0, res.stderr
    assert whole.client().shop.orders.count_documents({}) == 300
