"""Backup and restore throughput against the server's raw ceilings, and peak RSS vs data size.

- backup docs/s  vs  raw ``find_raw_batches`` scan of the same collections (read and discarded),
  with the same parallelism; once with the source oplog capped well below the data (as in
  production) and once with an oplog as large as the data (every seeded insert still in it:
  on SecantusDB, whose every oplog query scans the whole oplog, this is the worst case for
  the backup's oplog bracket);
- restore load docs/s  vs  raw unordered ``insert_many`` of the same raw documents, in parallel;
- the whole restore  vs  the server's ceiling on the same data: that raw insert, then
  ``createIndexes`` of the same specs (two secondary indexes per collection), one collection
  after another (ceiling seconds / restore seconds: >= 1.0 is at or past the ceiling);
- peak RSS of the ``lifeboat backup`` and ``lifeboat restore`` processes at two data sizes;
- with ``MONGO_TOOLS_BIN`` set, at the larger size: ``lifeboat backup`` vs ``mongodump --oplog``
  and ``lifeboat restore`` vs ``mongorestore``, alternating rounds, medians (``peers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient

from mongo_lifeboat.embedded import ScratchServer
from peers import report, side_by_side, tools_dir  # run from bench/: python bench/bench_backup_restore.py

COLLECTIONS = 4
OPLOG_ENTRIES = 10_000
INDEXES = [{"key": {"n": -1}, "name": "n_-1"}, {"key": {"sub.x": 1, "s": 1}, "name": "sub.x_1_s_1"}]


def seed(client: MongoClient[Any], docs: int) -> None:
    per = docs // COLLECTIONS
    for c in range(COLLECTIONS):
        coll = client.bench[f"c{c}"]
        for start in range(0, per, 10_000):
            coll.insert_many(
                [
                    {
                        "_id": i,
                        "n": i,
                        "s": f"payload-{i:09d}" * 4,
                        "tags": ["a", "b", "c"],
                        "sub": {"x": i, "y": [i, i]},
                    }
                    for i in range(start, min(start + 10_000, per))
                ],
                ordered=False,
            )
        client.bench.command("createIndexes", f"c{c}", indexes=INDEXES)


def raw_scan(client: MongoClient[Any], jobs: int) -> tuple[int, float]:
    def scan(name: str) -> int:
        n = 0
        for batch in client.bench[name].find_raw_batches({}, batch_size=1000):
            n += len(batch)
        return n

    t = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        total = sum(pool.map(scan, [f"c{c}" for c in range(COLLECTIONS)]))
    return total, time.perf_counter() - t


def raw_insert(source: MongoClient[Any], target: MongoClient[Any], jobs: int) -> tuple[float, float]:
    """(seconds to insert every document, then to build the same indexes, one collection after another)."""
    batches = []
    for c in range(COLLECTIONS):
        for raw in source.bench[f"c{c}"].find_raw_batches({}, batch_size=5000):
            batches.append((f"c{c}", raw))

    def split(raw: bytes) -> list[RawBSONDocument]:
        out, pos = [], 0
        while pos < len(raw):
            n = int.from_bytes(raw[pos : pos + 4], "little")
            out.append(RawBSONDocument(raw[pos : pos + n]))
            pos += n
        return out

    t = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda b: target.rawbench[b[0]].insert_many(split(b[1]), ordered=False), batches))
    inserted = time.perf_counter()
    for c in range(COLLECTIONS):
        target.rawbench.command("createIndexes", f"c{c}", indexes=INDEXES)
    return inserted - t, time.perf_counter() - inserted


def run_cli(*args: str) -> tuple[dict[str, Any], int]:
    """Run lifeboat; return its JSON and its peak RSS in KiB (from wait4: this child only)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongo_lifeboat", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"lifeboat {args[0]} failed: {err.decode()}")
    return json.loads(out), int(usage.ru_maxrss)


def measure(
    docs: int, jobs: int, oplog_entries: int, index_builds: str, peer_rounds: int = 0
) -> dict[str, Any]:
    with (
        ScratchServer(["--oplog-max-entries", str(oplog_entries)], private=False) as src,
        ScratchServer(private=False) as dst,
        ScratchServer(private=False) as raw_dst,
    ):
        source: MongoClient[Any] = MongoClient(src.uri)
        seed(source, docs)
        repo = "file://" + tempfile.mkdtemp(prefix="lifeboat-bench-")
        run_cli("init", "--repo", repo)
        scanned, scan_s = raw_scan(source, jobs)
        backup, backup_rss = run_cli(
            "backup", "--source", src.uri, "--repo", repo, "-j", str(jobs), "--chunk-mb", "16"
        )
        raw_insert_s, raw_index_s = raw_insert(source, MongoClient(raw_dst.uri), jobs)
        restore, restore_rss = run_cli(
            "restore",
            "latest",
            "--target",
            dst.uri,
            "--repo",
            repo,
            "-j",
            str(jobs),
            "--index-builds",
            index_builds,
        )
        n = backup["documents"]
        tools = tools_dir() if peer_rounds else None
        peers = side_by_side(tools, src.uri, run_cli, repo, jobs, peer_rounds) if tools else None
        return {
            "peers": peers,
            "docs": n,
            "raw_scan_docs_s": n / scan_s,
            "backup_docs_s": n / backup["duration_s"],
            "export_docs_s": n / backup["phases"]["export"],
            "raw_insert_docs_s": n / raw_insert_s,
            "restore_load_docs_s": n / restore["phases"]["load"],
            "restore_total_docs_s": n / sum(restore["phases"].values()),
            "restore_s": sum(restore["phases"].values()),
            "restore_index_s": restore["phases"].get("indexes", 0.0),
            "ceiling_s": raw_insert_s + raw_index_s,
            "ceiling_index_s": raw_index_s,
            "backup_rss_mib": backup_rss / 1024,
            "restore_rss_mib": restore_rss / 1024,
            "scanned_mib": scanned / 2**20,
            "oplog_entries": source.local["oplog.rs"].estimated_document_count(),
            "bracket_s": backup["phases"]["bracket"],
            "prepare_s": backup["phases"]["prepare"],
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--docs", type=int, default=50_000, help="documents at the smaller size (the larger is 2x)"
    )
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--index-builds", choices=["after-replay", "during-load"], default="after-replay")
    ap.add_argument(
        "--peer-rounds",
        type=int,
        default=3,
        help="alternating rounds against mongodump/mongorestore (0: none)",
    )
    args = ap.parse_args()
    runs = {
        "small": measure(args.docs, args.jobs, OPLOG_ENTRIES, args.index_builds),
        "large": measure(args.docs * 2, args.jobs, OPLOG_ENTRIES, args.index_builds, args.peer_rounds),
        # Room for every seeded insert: the oplog holds as many entries as there are documents.
        "large, full oplog": measure(args.docs * 2, args.jobs, args.docs * 4, args.index_builds),
    }
    for label, m in runs.items():
        print(
            f"{label}: {m['docs']} docs ({m['scanned_mib']:.0f} MiB), oplog {m['oplog_entries']} entries | "
            f"raw scan {m['raw_scan_docs_s']:.0f}/s, backup {m['backup_docs_s']:.0f}/s (prepare "
            f"{m['prepare_s']:.1f}s, bracket close {m['bracket_s']:.1f}s) | raw insert "
            f"{m['raw_insert_docs_s']:.0f}/s, restore load {m['restore_load_docs_s']:.0f}/s (whole restore "
            f"{m['restore_total_docs_s']:.0f}/s) | peak RSS backup {m['backup_rss_mib']:.0f} MiB, "
            f"restore {m['restore_rss_mib']:.0f} MiB"
        )
    print(f"({args.jobs} jobs)")
    print("ratios (same server, same data, same run):")
    for label, m in runs.items():
        print(f"  {label}: backup/raw-scan = {m['backup_docs_s'] / m['raw_scan_docs_s']:.2f}")
        print(f"  {label}: export-phase/raw-scan = {m['export_docs_s'] / m['raw_scan_docs_s']:.2f}")
        print(f"  {label}: restore-load/raw-insert = {m['restore_load_docs_s'] / m['raw_insert_docs_s']:.2f}")
        print(
            f"  {label}: whole-restore/raw-insert = {m['restore_total_docs_s'] / m['raw_insert_docs_s']:.2f}"
        )
        print(
            f"  {label}: restore vs server ceiling (insert + createIndexes) = {m['ceiling_s'] / m['restore_s']:.2f} "
            f"(restore {m['restore_s']:.1f}s, its index phase {m['restore_index_s']:.1f}s; ceiling "
            f"{m['ceiling_s']:.1f}s, its index builds {m['ceiling_index_s']:.1f}s)"
        )
    small, large = runs["small"], runs["large"]
    print(
        f"  peak RSS large/small: backup {large['backup_rss_mib'] / small['backup_rss_mib']:.2f}, "
        f"restore {large['restore_rss_mib'] / small['restore_rss_mib']:.2f} (flat = 1.0)"
    )
    if large["peers"]:
        print(f"against MongoDB's own tools ({large['docs']} documents, {args.jobs} jobs):")
        report(large["peers"])


if __name__ == "__main__":
    main()
