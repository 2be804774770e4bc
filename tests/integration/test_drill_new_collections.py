"""Acceptance (issue 18, item 2): a drill proves every collection that exists at T, not only
those of its base backup: one created after the base and one made by a rename are compared
document by document, and a restore that lacks one fails the drill."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.drill.service import DrillOptions, run_drill
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.verify.compare import summarize

from ..support.archiving import archiving
from ..support.servers import SeededSource, ServerPool


def test_collections_created_after_the_base_are_proven(
    servers: ServerPool, seeded_source: SeededSource, repo: Repository
) -> None:
    source = seeded_source(200)
    src = source.client()
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri):
        src.shop.fresh.insert_many([{"_id": i, "made": "after the base"} for i in range(400)])
        src.shop.scratch.insert_many([{"_id": i, "renamed": True} for i in range(300)])
        src.shop.scratch.rename("renamed")
    total = sum(s.count for s in summarize(src).values() if s.type == "collection")

    report = run_drill(repo, None, DrillOptions(source.uri, staging=servers.new().uri))
    assert report.verdict == "pass", report.failures
    # Nothing was written after T: every document of every collection is compared.
    assert report.documents_compared == total
    assert report.documents_skipped == 0

    def lose_one(staging: MongoClient[Any]) -> None:
        staging.shop.drop_collection("renamed")

    failed = run_drill(repo, None, DrillOptions(source.uri, staging=servers.new().uri, before_proof=lose_one))
    assert failed.verdict == "fail"
    assert [(f["step"], f.get("ns")) for f in failed.failures] == [("structure", "shop.renamed")]
