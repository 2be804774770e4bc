"""A restore drill's overhead over a plain restore of the same backup, at two data sizes.

For each size: seed a source, take a base backup, restore it plainly into one fresh server
(timed), then drill it into another (its recovery phases and its proof timed). Prints the
proof phase over the plain restore's time (the drill's own cost: reading every restored
document back and looking it up on the source) and the drill's recovery time over the
plain restore's (the same restore; should be about 1.0).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.drill.service import DrillOptions, run_drill
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore

COLLECTIONS = 4


def seed(client: MongoClient[Any], docs: int) -> None:
    per = docs // COLLECTIONS
    for c in range(COLLECTIONS):
        for start in range(0, per, 10_000):
            client.bench[f"c{c}"].insert_many(
                [
                    {"_id": i, "n": i, "s": f"payload-{i:09d}" * 4, "sub": {"x": i}}
                    for i in range(start, min(start + 10_000, per))
                ],
                ordered=False,
            )


def measure(docs: int, jobs: int) -> dict[str, Any]:
    with (
        ScratchServer(private=False) as src,
        ScratchServer(private=False) as plain,
        ScratchServer(private=False) as staging,
    ):
        seed(MongoClient(src.uri), docs)
        repo = Repository.init("file://" + tempfile.mkdtemp(prefix="lifeboat-bench-drill-"))
        manifest = run_backup(repo, BackupOptions(src.uri, jobs=jobs))
        t = time.perf_counter()
        run_restore(
            repo,
            plan_restore(manifest, NamespaceMap.build()),
            MongoClient(plain.uri),
            RestoreOptions(jobs=jobs),
        )
        restore_s = time.perf_counter() - t
        report = run_drill(repo, None, DrillOptions(src.uri, staging=staging.uri, jobs=jobs))
    assert report.verdict == "pass", report.failures
    return {
        "docs": report.documents_restored,
        "restore_s": restore_s,
        "recovery_s": report.recovery_s,
        "proof_s": report.phases["proof"],
        "compared": report.documents_compared,
        "phases": report.phases,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--docs", type=int, default=40_000, help="documents at the smaller size (the larger is 4x)"
    )
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    runs = {"small": measure(args.docs, args.jobs), "large": measure(args.docs * 4, args.jobs)}
    for label, m in runs.items():
        print(
            f"{label}: {m['docs']} docs | plain restore {m['restore_s']:.2f}s, drill recovery {m['recovery_s']:.2f}s, "
            f"proof {m['proof_s']:.2f}s ({m['compared']} documents compared with the source)"
        )
        print("   drill phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in m["phases"].items()))
    print("ratios (same backup, same run):")
    for label, m in runs.items():
        print(f"  {label}: proof/plain-restore = {m['proof_s'] / m['restore_s']:.2f}")
        print(f"  {label}: drill-recovery/plain-restore = {m['recovery_s'] / m['restore_s']:.2f}")


if __name__ == "__main__":
    main()
