"""How many jobs? Backup and restore throughput and peak RSS as ``-j`` grows, on one server and data.

The default job count (4) is a bet on where the server stops taking more work at once. This
sweeps ``-j`` over the same backup and the same data, each command as its own process (peak
RSS from ``wait4``), so the default can be checked against this machine and this server: the
throughput should level off at or before the default, and the peak RSS should grow by a bounded
step per job (each job holds a bounded number of batches), never with the data.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from pymongo import MongoClient

from bench_backup_restore import run_cli, seed  # run from bench/: python bench/bench_jobs.py
from mongo_lifeboat.embedded import ScratchServer


def _once(src_uri: str, repo: str, docs: int, jobs: int) -> dict[str, float]:
    t = time.perf_counter()
    _, backup_rss = run_cli("backup", "--source", src_uri, "--repo", repo, "-j", str(jobs))
    backup_s = time.perf_counter() - t
    with ScratchServer(private=False) as dst:  # a fresh server: one whose databases were dropped is slower
        t = time.perf_counter()
        _, restore_rss = run_cli("restore", "latest", "--repo", repo, "--target", dst.uri, "-j", str(jobs))
        restore_s = time.perf_counter() - t
    return {
        "backup_docs_s": docs / backup_s,
        "backup_rss": backup_rss / 1024,
        "restore_docs_s": docs / restore_s,
        "restore_rss": restore_rss / 1024,
    }


def sweep(docs: int, jobs: list[int], rounds: int) -> list[dict[str, Any]]:
    """Each job count ``rounds`` times, the order reversed every other round (so a server that
    speeds up or slows down over the run weighs on every count alike); medians."""
    runs: dict[int, list[dict[str, float]]] = {j: [] for j in jobs}
    with ScratchServer(private=False) as src:
        seed(MongoClient(src.uri), docs)
        repo = "file://" + tempfile.mkdtemp(prefix="lifeboat-bench-jobs-")
        run_cli("init", "--repo", repo)
        for r in range(rounds):
            for j in jobs if r % 2 == 0 else list(reversed(jobs)):
                runs[j].append(_once(src.uri, repo, docs, j))
    rows = []
    for j in jobs:
        row: dict[str, Any] = {"jobs": j}
        for key in runs[j][0]:
            row[key] = statistics.median(m[key] for m in runs[j])
        rows.append(row)
        print(
            f"  -j {j:>2}: backup {row['backup_docs_s']:>7.0f} docs/s, peak RSS {row['backup_rss']:.0f} MiB | "
            f"restore {row['restore_docs_s']:>6.0f} docs/s, peak RSS {row['restore_rss']:.0f} MiB",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--jobs", default="1,2,4,8", help="job counts to sweep")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each job count (medians)")
    args = ap.parse_args()
    print(f"{args.docs} documents in four collections (medians of {args.rounds} rounds):")
    rows = sweep(args.docs, [int(j) for j in args.jobs.split(",")], args.rounds)
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
