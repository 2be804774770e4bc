"""Oplog replay rate vs a naive one-command-per-entry applier, and the archiver's lag.

1. A base backup, then a mixed workload (inserts, nested/array updates, replacements,
   deletes, update_many, pipeline updates) archived by the archiver.
2. Replay: restore the backup into two fresh servers, then replay the same archived
   entries with Lifeboat's applier on one and a naive applier (one command per entry:
   upsert-replace, translated update, delete; what mongorestore --oplogReplay does, minus
   applyOps) on the other. Both end states are compared, then rates are printed.
3. Lag: writers insert as fast as the server takes it while the archiver runs; lag is
   sampled every 100 ms as the source's newest write time minus the newest archived
   entry's wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.mongo.codec import CODEC
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.applier import Applier
from mongo_lifeboat.oplog.archiver import Archiver, ArchiverOptions
from mongo_lifeboat.oplog.entries import units
from mongo_lifeboat.oplog.history import load_history
from mongo_lifeboat.oplog.indexes import IndexCatalog
from mongo_lifeboat.oplog.segments import iter_entries, list_segments
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.verify.compare import compare, summarize

OPLOG_ENTRIES = 10_000  # as in bench_backup_restore: far smaller than the data written over time


def naive_apply(client: MongoClient[Any], entries: list[dict[str, Any]]) -> None:
    """One command per entry."""
    for e in entries:
        if e["op"] not in ("i", "u", "d") or e["ns"].startswith(("local.", "config.", "admin.")):
            continue
        db, coll = e["ns"].split(".", 1)
        c = client.get_database(db, codec_options=CODEC)[coll]
        o = e["o"]
        if e["op"] == "i":
            c.replace_one({"_id": o["_id"]}, o, upsert=True)
        elif e["op"] == "d":
            c.delete_one({"_id": o["_id"]})
        elif "$v" not in o:
            c.replace_one({"_id": e["o2"]["_id"]}, o)
        else:
            diff = o["diff"]
            update: dict[str, Any] = {}
            if diff.get("updatedFields"):
                update["$set"] = diff["updatedFields"]
            if diff.get("removedFields"):
                update["$unset"] = {f: "" for f in diff["removedFields"]}
            for t in diff.get("truncatedArrays") or []:
                update.setdefault("$push", {})[t["field"]] = {"$each": [], "$slice": t["newSize"]}
            if update:
                c.update_one({"_id": e["o2"]["_id"]}, update)


def replay_bench(docs: int, ops: int, jobs: int) -> dict[str, float]:
    with ScratchServer() as s, ScratchServer() as a, ScratchServer() as b:
        src: MongoClient[Any] = MongoClient(s.uri)
        workload.seed(src, docs)
        repo = Repository.init("file://" + tempfile.mkdtemp(prefix="lifeboat-bench-"))
        manifest = run_backup(repo, BackupOptions(s.uri))
        stop = threading.Event()
        archiver = Archiver(repo, ArchiverOptions(s.uri, segment_seconds=2.0))
        thread = threading.Thread(target=archiver.run, args=(stop,))
        thread.start()
        writer = workload.Writer(src, docs, max_ops=ops).start()
        writer.ops_done.wait()
        writer.stop()
        stop.set()
        thread.join()
        history = load_history(repo)
        entries = [e for e in iter_entries(repo.storage, history.segments) if e["ts"] > manifest.end]
        results = {}
        for name, uri in (("lifeboat", a.uri), ("naive", b.uri)):
            target: MongoClient[Any] = MongoClient(uri)
            run_restore(repo, plan_restore(manifest, NamespaceMap.build()), target, RestoreOptions())
            t0 = time.perf_counter()
            if name == "lifeboat":
                Applier(target, NamespaceMap.build(), IndexCatalog(), workers=jobs).apply(
                    units(iter(entries))
                )
            else:
                naive_apply(target, entries)
            results[name] = time.perf_counter() - t0
        differences = compare(summarize(MongoClient(a.uri)), summarize(MongoClient(b.uri)))
        differences = [d for d in differences if "indexes differ" not in d]  # naive builds no index
        return {
            "entries": len(entries),
            "lifeboat_s": results["lifeboat"],
            "naive_s": results["naive"],
            "states_equal": float(not differences),
        }


def lag_bench(seconds: float, writers: int) -> dict[str, float]:
    with ScratchServer(["--oplog-max-entries", str(OPLOG_ENTRIES)]) as s:
        src: MongoClient[Any] = MongoClient(s.uri)
        src.lag.docs.insert_one({"warm": True})
        repo = Repository.init("file://" + tempfile.mkdtemp(prefix="lifeboat-bench-"))
        run_backup(repo, BackupOptions(s.uri))
        stop, done = threading.Event(), threading.Event()
        archiver = Archiver(repo, ArchiverOptions(s.uri, segment_seconds=0.5, poll_s=0.25))
        thread = threading.Thread(target=archiver.run, args=(stop,))
        thread.start()
        written = [0]

        def write() -> None:
            c: MongoClient[Any] = MongoClient(s.uri)
            while not done.is_set():
                c.lag.docs.insert_many([{"p": "x" * 100} for _ in range(100)])
                written[0] += 100

        pool = [threading.Thread(target=write) for _ in range(writers)]
        for t in pool:
            t.start()
        samples = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.1)  # a sampling period, not a synchronisation
            newest = src.admin.command("hello")["lastWrite"]["lastWriteDate"]
            segs = list_segments(repo.storage, "secantus")
            if segs and segs[-1].last_wall:
                from datetime import datetime

                archived = datetime.fromisoformat(segs[-1].last_wall.replace("Z", "+00:00")).replace(
                    tzinfo=None
                )
                samples.append((newest - archived).total_seconds())
        done.set()
        for t in pool:
            t.join()
        rate = written[0] / (time.monotonic() - t0)
        stop.set()
        thread.join()
        samples.sort()
        return {
            "write_rate": rate,
            "lag_p50": samples[len(samples) // 2],
            "lag_p95": samples[int(len(samples) * 0.95)],
            "lag_max": samples[-1],
            "samples": len(samples),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=2000, help="documents per collection in the base")
    ap.add_argument("--ops", type=int, default=4000, help="workload operations to replay")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--lag-seconds", type=float, default=15.0)
    ap.add_argument("--writers", type=int, default=2)
    args = ap.parse_args()
    r = replay_bench(args.docs, args.ops, args.jobs)
    lag = lag_bench(args.lag_seconds, args.writers)
    print(
        f"replay: {r['entries']:.0f} entries | lifeboat {r['lifeboat_s']:.2f}s ({r['entries'] / r['lifeboat_s']:.0f}/s), "
        f"naive {r['naive_s']:.2f}s ({r['entries'] / r['naive_s']:.0f}/s) | end states equal: {bool(r['states_equal'])}"
    )
    print(
        f"archiver: {lag['write_rate']:.0f} inserts/s sustained by {args.writers} writers; lag p50 {lag['lag_p50']:.2f}s, "
        f"p95 {lag['lag_p95']:.2f}s, max {lag['lag_max']:.2f}s over {lag['samples']:.0f} samples"
    )
    print("ratios (same server, same entries, same run):")
    print(f"  replay lifeboat/naive = {r['naive_s'] / r['lifeboat_s']:.1f}x (target >= 10x)")
    print(f"  archiver lag p95 = {lag['lag_p95']:.2f}s at the server's top insert rate (target < 2s)")


if __name__ == "__main__":
    main()
