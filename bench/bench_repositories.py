"""Backup and restore throughput by repository kind, measured side by side on the same data:
the filesystem, the filesystem encrypted (AES-256-GCM), S3 (moto's server), GCS
(fake-gcs-server) and Azure (Azurite) — local emulators on loopback, so this measures
Lifeboat's path through each library and the emulator's own cost, not a network —, and two
filesystem repositories written as one (a plan with two [[repository]]: the source is read
once). Azurite comes from ``npm ci --prefix tests/emulators``.

Prints each as a ratio to the plain filesystem repository.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.emulators import azure_container, azure_server, gcs_bucket, gcs_server
from tests.support.s3 import make_bucket, s3_server

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.repo.mirror import Member
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore


def seed(client: MongoClient[Any], docs: int) -> None:
    for start in range(0, docs, 10_000):
        client.bench.c.insert_many(
            [{"_id": i, "s": f"payload-{i:09d}" * 8, "n": i} for i in range(start, min(start + 10_000, docs))]
        )


def measure(url: str | Repository, source: str, jobs: int) -> tuple[float, float, int]:
    repo = Repository.init(url) if isinstance(url, str) else url
    t = time.perf_counter()
    manifest = run_backup(repo, BackupOptions(source, jobs=jobs))
    backup_s = time.perf_counter() - t
    with ScratchServer(private=False) as target:
        t = time.perf_counter()
        report = run_restore(
            repo,
            plan_restore(manifest, NamespaceMap.build()),
            MongoClient(target.uri),
            RestoreOptions(jobs=jobs),
        )
        restore_s = time.perf_counter() - t
    return backup_s, restore_s, report.documents


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lifeboat-bench-repos-"))
    results = {}
    with ScratchServer(private=False) as src, s3_server() as endpoint, gcs_server(), azure_server():
        seed(MongoClient(src.uri), args.docs)
        make_bucket(endpoint, "bench")
        gcs_bucket("bench")
        azure_container("bench")
        results["filesystem"] = measure(f"file://{root}/plain", src.uri, args.jobs)
        os.environ["LIFEBOAT_ENCRYPTION_KEY"] = base64.b64encode(os.urandom(32)).decode()
        try:
            results["filesystem, encrypted"] = measure(f"file://{root}/encrypted", src.uri, args.jobs)
        finally:
            del os.environ["LIFEBOAT_ENCRYPTION_KEY"]
        results["s3 (moto, loopback)"] = measure("s3://bench/repo", src.uri, args.jobs)
        results["gcs (fake-gcs-server, loopback)"] = measure("gs://bench/repo", src.uri, args.jobs)
        results["azure (Azurite, loopback)"] = measure("azure://bench/repo", src.uri, args.jobs)
        a, b = (Repository.init(f"file://{root}/mirror-{n}") for n in "ab")
        both = Repository.mirrored([Member("a", a.storage), Member("b", b.storage)], a.info)
        results["two filesystem repositories as one"] = measure(both, src.uri, args.jobs)
    base_backup, base_restore, docs = results["filesystem"]
    for name, (backup_s, restore_s, _) in results.items():
        print(
            f"{name}: {docs} docs | backup {backup_s:.2f}s ({docs / backup_s:.0f}/s), restore {restore_s:.2f}s ({docs / restore_s:.0f}/s)"
        )
    print("ratios to the plain filesystem repository (throughput; same data, same run):")
    for name, (backup_s, restore_s, _) in results.items():
        if name != "filesystem":
            print(f"  {name}: backup {base_backup / backup_s:.2f}, restore {base_restore / restore_s:.2f}")


if __name__ == "__main__":
    main()
