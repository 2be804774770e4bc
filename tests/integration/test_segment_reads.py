"""Issue 36, item 3: a point-in-time restore (and a drill) reads each archived segment once — fetched several
at a time, checked as it arrives, before anything is written — and replays the local copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.points import LATEST
from mongo_lifeboat.drill.service import DrillOptions, run_drill
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.segment_spool import SegmentSpool
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.data import assert_same
from ..support.faulty_storage import FaultyStorage
from ..support.servers import SeededSource, ServerPool


def test_a_point_in_time_restore_fetches_each_segment_once(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(200)
    src: Any = source.client()
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri, segment_bytes=2 << 10):
        for i in range(300):
            src.shop.notes.insert_one({"_id": f"n{i}", "pad": "x" * 100})
        src.shop.orders.delete_many({"qty": {"$lt": 30}})
        wait_archived(repo, newest_ts(src))
    counting = FaultyStorage(FileStorage(tmp_path / "repo"))
    counted = Repository(counting, repo.info)
    plan, pitr = choose_restore(counted, "latest", LATEST, None, NamespaceMap.build())
    assert pitr is not None and len(pitr.segments) >= 5
    target = servers.new()
    report = run_restore(counted, plan, target.client(), RestoreOptions(jobs=4), pitr=pitr)
    assert report.oplog_entries > 0
    assert_same(src, target.client())
    reads = {seg.key: counting.gets[seg.key] for seg in pitr.segments}
    assert set(reads.values()) == {1}, reads  # once each: no verify pass and replay pass

    # A drill proves every segment and restores from the same copies: once each there too.
    counting.gets.clear()
    drilled = run_drill(counted, None, DrillOptions(source.uri, staging=servers.new().uri))
    assert drilled.verdict == "pass", drilled.failures
    assert {counting.gets[seg.key] for seg in pitr.segments} == {1}

    # Past its budget the spool keeps nothing: each segment is checked, and read again to replay.
    first = pitr.segments[0]
    with SegmentSpool(budget_bytes=0) as tight:
        assert tight.fetch(counted.storage, pitr.segments[:3]).fetched == 3
        assert tight.report.kept == 0 and tight.batches(first) is None
    with SegmentSpool() as roomy:
        assert roomy.fetch(counted.storage, [first]).kept == 1
        batches = roomy.batches(first)
        assert batches is not None and sum(len(b) for b in batches) == first.entries
