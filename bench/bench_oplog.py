"""Oplog replay rate vs a naive one-command-per-entry applier, and the archiver's lag.

1. A base backup, then a mixed workload (inserts, nested/array updates, replacements,
   deletes, update_many, pipeline updates) archived by the archiver.
2. Replay: restore the backup into two fresh servers, then replay the same archived
   entries with Lifeboat's applier on one and a naive applier (one command per entry:
   upsert-replace, translated update, delete; what mongorestore --oplogReplay does, minus
   applyOps) on the other. Both end states are compared, then rates are printed.
3. Drain: a backlog read by a bare tailable cursor (the server's limit) and by the archiver.
4. Lag: ``lifeboat stream`` runs as its own process while 1, 4 and 16 clients write as fast
   as the server takes it (single inserts, 20-document batches, 5-write transactions); the
   true lag is sampled every 250 ms as the source's newest write time minus the newest
   committed segment's last entry, with the archiver's CPU share.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
from pymongo import CursorType, MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.demo import workload
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.events import Update
from mongo_lifeboat.mongo.codec import CODEC, RAW_CODEC
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.apply.applier import Applier
from mongo_lifeboat.oplog.apply.entries import units
from mongo_lifeboat.oplog.apply.indexes import IndexCatalog
from mongo_lifeboat.oplog.capture.archiver import Archiver, ArchiverOptions
from mongo_lifeboat.oplog.reader import newest_ts
from mongo_lifeboat.oplog.segments import iter_entries, list_segments
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.plan import plan_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.timestamps import parse_position
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
    with (
        ScratchServer(private=False) as s,
        ScratchServer(private=False) as a,
        ScratchServer(private=False) as b,
    ):
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


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _write(uri: str, mode: str, done: threading.Event, written: list[int], rate: float = 0.0) -> None:
    """Writes as fast as the server takes them, or ``rate`` writes a second (paced: a steady
    trickle is what once held a change-stream archiver back for a full batch)."""
    c: MongoClient[Any] = MongoClient(uri)
    coll = c.lag.docs
    started, ops = time.monotonic(), 0
    while not done.is_set():
        if rate:
            ops += 1
            done.wait(max(0.0, started + ops / rate - time.monotonic()))  # the pace, not a race
        if mode == "single":
            coll.insert_one({"p": "x" * 100})
            n = 1
        elif mode == "batch":
            coll.insert_many([{"p": "x" * 100} for _ in range(20)])
            n = 20
        else:  # txn: five writes committed together
            with c.start_session() as session:
                session.with_transaction(
                    lambda s: coll.insert_many([{"p": "x" * 100} for _ in range(5)], session=s)
                )
            n = 5
        written[0] += n
    c.close()


# The README's least-privilege role for a change-stream capture (see "Least-privilege MongoDB users").
CAPTURE_ROLE = {
    "createRole": "lifeboatChangeStream",
    "privileges": [
        {
            "resource": {"db": "", "collection": ""},
            "actions": ["find", "changeStream", "listCollections", "listIndexes"],
        },
        {"resource": {"cluster": True}, "actions": ["listDatabases", "serverStatus"]},
    ],
    "roles": [],
}


@contextmanager
def _lag_server(least_privilege: bool) -> Iterator[tuple[str, str]]:
    """(a root URI for the writers, the URI the archiver uses): the same server, or, for the
    least-privilege rows, one with --auth whose archiver user holds only the role above."""
    args = ["--oplog-max-entries", str(OPLOG_ENTRIES * 5)]
    if not least_privilege:
        with ScratchServer(args, private=False) as s:
            yield s.uri, s.uri
        return
    data = Path(tempfile.mkdtemp(prefix="lifeboat-bench-auth-"))
    with ScratchServer(args, data_dir=data / "db") as gated:  # users made before --auth
        admin = MongoClient(gated.uri).admin
        admin.command("createUser", "root", pwd="bench-root", roles=["root"])
        admin.command(CAPTURE_ROLE)
        admin.command("createUser", "capture", pwd="bench-capture", roles=["lifeboatChangeStream"])
    with ScratchServer([*args, "--auth"], data_dir=data / "db", private=False) as s:
        base = f"127.0.0.1:{s.port}/?directConnection=true&authSource=admin"
        yield f"mongodb://root:bench-root@{base}", f"mongodb://capture:bench-capture@{base}"
    shutil.rmtree(data, ignore_errors=True)


def lag_run(
    seconds: float, writers: int, mode: str, capture: str = "oplog", rate: float = 0.0
) -> dict[str, float]:
    """``lifeboat stream`` as its own process (as in production) under ``writers`` clients,
    capturing from the oplog or from a change stream (``change-stream-lp``: as the README's
    least-privilege user, on a server with access control)."""
    least_privilege = capture == "change-stream-lp"
    with _lag_server(least_privilege) as (root_uri, capture_uri):
        src: MongoClient[Any] = MongoClient(root_uri)
        src.lag.docs.insert_one({"warm": True})
        repo = Repository.init("file://" + tempfile.mkdtemp(prefix="lifeboat-bench-"))
        run_backup(repo, BackupOptions(root_uri))
        stream = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mongo_lifeboat.cli.main",
                "-q",
                "stream",
                "--source",
                capture_uri,
                "--repo",
                repo.url,
                "--capture",
                "change-stream" if least_privilege else capture,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not list_segments(repo.storage, "secantus") and load_history(repo).timeline.state is None:
            time.sleep(0.1)  # waiting for the archiver to start: nothing to wait on but its record
        done, written = threading.Event(), [0]
        pool = [
            threading.Thread(target=_write, args=(root_uri, mode, done, written, rate))
            for _ in range(writers)
        ]
        cpu0, t0 = _cpu_s(stream.pid), time.monotonic()
        for t in pool:
            t.start()
        samples = []
        while time.monotonic() - t0 < seconds:
            time.sleep(0.25)  # a sampling period, not a synchronisation
            newest = src.admin.command("hello")["lastWrite"]["lastWriteDate"]
            segs = list_segments(repo.storage, "secantus")
            if segs and segs[-1].last_wall:
                archived = datetime.fromisoformat(segs[-1].last_wall.replace("Z", "+00:00")).replace(
                    tzinfo=None
                )
                samples.append(max(0.0, (newest - archived).total_seconds()))
        elapsed = time.monotonic() - t0
        cpu = _cpu_s(stream.pid) - cpu0
        done.set()
        for t in pool:
            t.join()
        stream.send_signal(signal.SIGTERM)
        stream.wait(120)
        samples.sort()
        return {
            "rate": written[0] / elapsed,
            "p50": samples[len(samples) // 2],
            "p95": samples[int(len(samples) * 0.95)],
            "max": samples[-1],
            "cpu_share": cpu / elapsed,
        }


def drain_bench(entries: int) -> dict[str, float]:
    """How fast the oplog can be read at all (a bare tailable cursor, entries thrown away)
    against the archiver catching up the same backlog into a repository."""
    with ScratchServer(["--oplog-max-entries", str(entries * 2)], private=False) as s:
        src: MongoClient[Any] = MongoClient(s.uri)
        src.lag.docs.insert_one({"warm": True})
        repo = Repository.init("file://" + tempfile.mkdtemp(prefix="lifeboat-bench-"))
        run_backup(repo, BackupOptions(s.uri))
        start = newest_ts(src)
        for _ in range(entries // 100):
            src.lag.docs.insert_many([{"p": "x" * 100} for _ in range(100)])
        end = newest_ts(src)
        t0 = time.perf_counter()
        cursor = src.local["oplog.rs"].find_raw_batches(
            {"ts": {"$gt": start}}, cursor_type=CursorType.TAILABLE_AWAIT
        )
        seen = 0
        for raw in cursor.max_await_time_ms(200):
            seen += len(bson.decode_all(raw, RAW_CODEC))
            if seen >= entries:
                break
        bare = time.perf_counter() - t0
        stop = threading.Event()
        started: list[float] = []
        reached: list[float] = []

        def on_event(u: Update) -> None:
            if u.name == "archiving":
                started.append(time.perf_counter())  # connected, proven, resuming: reading starts
            elif u.name == "segment" and parse_position(u.facts["end"]) >= end and not reached:
                reached.append(time.perf_counter())

        archiver = Archiver(repo, ArchiverOptions(s.uri), on_event)
        thread = threading.Thread(target=archiver.run, args=(stop,))
        thread.start()
        while not reached:
            time.sleep(0.05)  # waiting for the event above
        archived = reached[0] - started[0]
        stop.set()
        thread.join()
        return {"entries": float(seen), "bare_s": bare, "archiver_s": archived}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=2000, help="documents per collection in the base")
    ap.add_argument("--ops", type=int, default=4000, help="workload operations to replay")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--lag-seconds", type=float, default=60.0, help="each lag run (the issue asks 300)")
    ap.add_argument("--clients", default="1,4,16", help="writing clients per lag run")
    ap.add_argument(
        "--modes", default="single,batch,txn", help="single inserts, 20-document batches, transactions"
    )
    ap.add_argument(
        "--captures",
        default="oplog",
        help="capture sources to run each lag case with: oplog, change-stream, change-stream-lp (as the "
        "least-privilege role's user, on a server with --auth)",
    )
    ap.add_argument("--rate", type=float, default=0.0, help="writes/s per client (0: as fast as it takes)")
    ap.add_argument("--drain-entries", type=int, default=40_000)
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()
    if not args.skip_replay:
        r = replay_bench(args.docs, args.ops, args.jobs)
        print(
            f"replay: {r['entries']:.0f} entries | lifeboat {r['lifeboat_s']:.2f}s ({r['entries'] / r['lifeboat_s']:.0f}/s), "
            f"naive {r['naive_s']:.2f}s ({r['entries'] / r['naive_s']:.0f}/s) | end states equal: {bool(r['states_equal'])}"
        )
    d = drain_bench(args.drain_entries)
    print(
        f"drain of a {d['entries']:.0f}-entry backlog: bare tailable cursor {d['bare_s']:.2f}s "
        f"({d['entries'] / d['bare_s']:.0f}/s), archiver into a file repository {d['archiver_s']:.2f}s "
        f"({d['entries'] / d['archiver_s']:.0f}/s)"
    )
    print(
        f"archiver lag, {args.lag_seconds:g}s per run (lifeboat stream as its own process, file repository):"
    )
    print(
        f"  {'capture':<13} {'mode':<7} {'clients':>7} {'entries/s':>10} {'p50 s':>7} {'p95 s':>7} "
        f"{'max s':>7} {'cpu':>6}"
    )
    worst = 0.0
    for mode in args.modes.split(","):
        for clients in (int(c) for c in args.clients.split(",")):
            for capture in args.captures.split(","):  # side by side, at the same write load
                lag = lag_run(args.lag_seconds, clients, mode, capture, args.rate)
                worst = max(worst, lag["p95"])
                print(
                    f"  {capture:<13} {mode:<7} {clients:>7} {lag['rate']:>10.0f} {lag['p50']:>7.2f} "
                    f"{lag['p95']:>7.2f} {lag['max']:>7.2f} {lag['cpu_share']:>6.0%}",
                    flush=True,
                )
    print("ratios (same server, same entries, same run):")
    if not args.skip_replay:
        print(f"  replay lifeboat/naive = {r['naive_s'] / r['lifeboat_s']:.1f}x (target >= 10x)")
    print(
        f"  archiver drain / bare cursor drain = {d['bare_s'] / d['archiver_s']:.2f} (1.0: the server's limit)"
    )
    print(f"  archiver lag p95, worst run = {worst:.2f}s (target < 2s)")


if __name__ == "__main__":
    main()
