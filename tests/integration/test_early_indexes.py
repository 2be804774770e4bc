"""Issue 21, item 2: a collection's indexes are built while the next collections load, where the
replay cannot change it; the restore reports load and index time per collection."""

from __future__ import annotations

from typing import Any

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.points import LATEST
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore

from ..support.archiving import archiving
from ..support.data import assert_same
from ..support.servers import ServerPool

DOCS = 3000


def _seed(src: Any, db: str) -> None:
    src[db].items.insert_many([{"_id": i, "k": i % 7, "u": f"{db}-{i}"} for i in range(DOCS)])
    src[db].items.create_index("k")
    src[db].items.create_index("u", unique=True)


def test_indexes_are_built_during_the_load_where_the_replay_cannot_change_the_collection(
    servers: ServerPool, repo: Repository
) -> None:
    source = servers.new()
    src = source.client()
    for db in ("written", "commanded", "quiet"):
        _seed(src, db)
    run_backup(repo, BackupOptions(source.uri, jobs=2))
    with archiving(repo, source.uri):
        src.written.items.update_one({"_id": 1}, {"$set": {"k": 99}})  # the replay writes it
        src.commanded.other.create_index("x")  # a command in its database
        src.quiet.elsewhere.insert_one({"_id": 1})  # another collection of the quiet database
    plan, pitr = choose_restore(repo, "latest", LATEST, None, NamespaceMap.build())
    assert pitr is not None and pitr.segments, "the writes after the base must be replayed"
    target = servers.new().client()
    report = run_restore(repo, plan, target, RestoreOptions(jobs=2, index_builds_during_load=True), pitr=pitr)

    assert_same(src, target)  # content hashes and index specs of every collection
    built = {ns: c["indexes_built"] for ns, c in report.by_collection.items()}
    assert built == {
        "written.items": "after the replay",
        "commanded.items": "after the replay",
        "quiet.items": "during the load",
    }
    assert report.indexes_during_load == 2 and report.indexes == 7  # and commanded.other.x_1
    for ns in built:
        timing = report.by_collection[ns]
        assert timing["documents"] == DOCS and timing["load_s"] > 0 and timing["index_s"] > 0, (ns, timing)

    # The default builds every index after the replay, and reports the same per collection.
    plain = servers.new().client()
    after = run_restore(repo, plan, plain, RestoreOptions(jobs=2), pitr=pitr)
    assert_same(src, plain)
    assert after.indexes_during_load == 0 and after.indexes == 7
    assert {c["indexes_built"] for c in after.by_collection.values()} == {"after the replay"}
