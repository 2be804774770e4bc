"""How many jobs? Backup and restore throughput and peak RSS as ``-j`` grows, on one server and data.

The default job count (4) is a bet on where the server stops taking more work at once. This
sweeps ``-j`` over the same backup and the same data, each command as its own process (peak
RSS from ``wait4``), so the default can be checked against this machine and this server: the
throughput should level off at or before the default, and the peak RSS should grow by a bounded
step per job (each job holds a bounded number of batches), never with the data.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from pymongo import MongoClient

from bench_backup_restore import run_cli, seed  # run from bench/: python bench/bench_jobs.py
from mongo_lifeboat.embedded import ScratchServer


def sweep(docs: int, jobs: list[int]) -> list[dict[str, Any]]:
    rows = []
    with ScratchServer() as src, ScratchServer() as dst:
        seed(MongoClient(src.uri), docs)
        target: MongoClient[Any] = MongoClient(dst.uri)
        repo = "file://" + tempfile.mkdtemp(prefix="lifeboat-bench-jobs-")
        run_cli("init", "--repo", repo)
        for j in jobs:
            t = time.perf_counter()
            _, backup_rss = run_cli("backup", "--source", src.uri, "--repo", repo, "-j", str(j))
            backup_s = time.perf_counter() - t
            target.drop_database("bench")
            t = time.perf_counter()
            _, restore_rss = run_cli("restore", "latest", "--repo", repo, "--target", dst.uri, "-j", str(j))
            restore_s = time.perf_counter() - t
            rows.append(
                {
                    "jobs": j,
                    "backup_docs_s": docs / backup_s,
                    "backup_rss": backup_rss / 1024,
                    "restore_docs_s": docs / restore_s,
                    "restore_rss": restore_rss / 1024,
                }
            )
            print(
                f"  -j {j:>2}: backup {docs / backup_s:>7.0f} docs/s, peak RSS {backup_rss / 1024:.0f} MiB | "
                f"restore {docs / restore_s:>6.0f} docs/s, peak RSS {restore_rss / 1024:.0f} MiB",
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--jobs", default="1,2,4,8", help="job counts to sweep")
    args = ap.parse_args()
    print(f"{args.docs} documents in four collections:")
    rows = sweep(args.docs, [int(j) for j in args.jobs.split(",")])
    first = rows[0]
    print(f"ratios to -j {first['jobs']} (same server, same data, same run):")
    for r in rows[1:]:
        print(
            f"  -j {r['jobs']}: backup {r['backup_docs_s'] / first['backup_docs_s']:.2f}x, "
            f"restore {r['restore_docs_s'] / first['restore_docs_s']:.2f}x; peak RSS +"
            f"{r['backup_rss'] - first['backup_rss']:.0f} / +{r['restore_rss'] - first['restore_rss']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
