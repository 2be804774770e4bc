"""`lifeboat demo`: the whole job on scratch servers, proven with content hashes.

Seed a source, back it up while a writer keeps writing, restore into a second
server, and prove the restore equals the source as it was at the backup's
consistent point: a third server, seeded identically, replays the writer's own
log up to that point, and the two are compared collection by collection.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from ..backup.service import BackupOptions, run_backup
from ..embedded import ScratchServer
from ..repo.repository import Repository
from ..restore.nsmap import NamespaceMap
from ..restore.plan import plan_restore
from ..restore.service import RestoreOptions, run_restore
from ..timestamps import wall_of
from ..verify.compare import compare, summarize
from . import workload


@dataclass
class DemoResult:
    backup_id: str = ""
    consistent_at: str = ""
    documents: int = 0
    writes_during_backup: int = 0
    oplog_entries: int = 0
    equal: bool = False
    differences: list[str] = field(default_factory=list)
    collections_compared: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    repository: str = ""


def run_demo(
    say: Callable[[str], None], docs_per_collection: int = 2000, repo_dir: Path | None = None
) -> DemoResult:
    result = DemoResult()
    timer = time.monotonic()

    def lap(name: str) -> None:
        nonlocal timer
        now = time.monotonic()
        result.timings_s[name] = round(now - timer, 3)
        timer = now

    workdir = repo_dir or Path(tempfile.mkdtemp(prefix="lifeboat-demo-"))
    with ScratchServer() as source, ScratchServer() as target, ScratchServer() as oracle:
        src: MongoClient[Any] = MongoClient(source.uri)
        say(f"1. scratch servers up: source {source.uri.split('/?')[0]}, target and oracle beside it")
        workload.seed(src, docs_per_collection)
        workload.seed(MongoClient(oracle.uri), docs_per_collection)
        n = docs_per_collection * len(workload.COLLECTIONS)
        say(
            f"2. seeded {n} documents in {len(workload.COLLECTIONS)} collections (+ a view, validators, indexes)"
        )
        lap("seed")

        repo = Repository.init("file://" + str(workdir / "repo"))
        result.repository = repo.url
        writer = workload.Writer(src, docs_per_collection).start()
        while len(writer.log) < 50 and not writer.ops_done.is_set():
            writer.ops_done.wait(0.01)  # let the writer get going before the backup starts
        manifest = run_backup(repo, BackupOptions(source.uri))
        log = writer.stop()
        lap("backup")
        end = manifest.end
        during = [op for op in log if manifest.start < op.ts_after <= end]
        result.backup_id, result.consistent_at = manifest.backup_id, manifest.end_ts
        result.documents, result.oplog_entries = manifest.documents, manifest.oplog.entries
        result.writes_during_backup = len(during)
        say(
            f"3. backup {manifest.backup_id} taken while the writer ran: {len(during)} writes landed during it "
            f"({manifest.oplog.entries} oplog entries captured); consistent at {manifest.end_ts} ({wall_of(end)})"
        )

        tgt: MongoClient[Any] = MongoClient(target.uri)
        plan = plan_restore(manifest, NamespaceMap.build())
        report = run_restore(repo, plan, tgt, RestoreOptions())
        lap("restore")
        say(
            f"4. restored into the target: {report.documents} documents loaded, {report.oplog_entries} oplog "
            f"entries replayed, {report.indexes} indexes built in {sum(report.phases.values()):.2f}s"
        )

        orc: MongoClient[Any] = MongoClient(oracle.uri)
        applied = workload.replay(orc, log, lambda ts: ts <= end, source=src)
        diffs = compare(summarize(tgt), summarize(orc))
        result.collections_compared = len(summarize(orc))
        result.equal, result.differences = not diffs, diffs
        lap("prove")
        verdict = "EQUAL" if not diffs else f"DIFFERENT ({len(diffs)} differences)"
        say(
            f"5. oracle replayed the writer's {applied} operations up to {manifest.end_ts}; restored target vs "
            f"oracle: {verdict} across {result.collections_compared} namespaces (content hashes, indexes, options)"
        )
        for d in diffs:
            say(f"   {d}")
    return result
