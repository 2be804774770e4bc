"""Does the cost grow linearly? Backup, restore, drill and point-in-time restore at growing sizes.

For each size (default 100k, 400k and 1M documents) a fresh source is seeded with documents of a
realistic shape (nested documents, arrays, strings, numbers, dates, ObjectIds, booleans; three
collections with two to four secondary indexes), and each command runs as its own process
(``lifeboat … --json``) so its peak RSS is its own (``wait4``):

- ``backup``; then a few thousand writes are archived by ``lifeboat stream`` so the
  point-in-time restore has changes to replay;
- ``restore`` of the base backup; ``restore --to latest`` (base + replay); ``drill`` (into a
  server the bench starts, so its RSS is not counted as the drill's).

Prints documents per second of each command at each size, the ratio of the largest size's
throughput to the smallest's (1.0 = linear; the goal is within 15 %), and each command's peak RSS
(the goal is flat, under 250 MB). Never a timed test: run it on demand.
"""

from __future__ import annotations

import argparse
import datetime
import random
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from bson import ObjectId
from pymongo import IndexModel, MongoClient

from bench_backup_restore import run_cli  # run from bench/: python bench/bench_scale.py
from mongo_lifeboat.embedded import ScratchServer

SHAPES = {  # collection -> its secondary indexes
    "orders": [{"customer": 1, "at": -1}, {"status": 1}, {"items.sku": 1}, {"total": 1}],
    "customers": [{"email": 1}, {"address.city": 1, "name": 1}],
    "events": [{"kind": 1, "at": 1}, {"user": 1}, {"tags": 1}],
}
SHARE = {"orders": 0.5, "customers": 0.2, "events": 0.3}
BATCH = 5_000


def _document(kind: str, i: int, rng: random.Random) -> dict[str, Any]:
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=i * 7)
    if kind == "orders":
        return {
            "_id": ObjectId(),
            "customer": rng.randrange(50_000),
            "at": at,
            "status": rng.choice(["new", "paid", "shipped", "returned"]),
            "items": [{"sku": f"sku-{rng.randrange(5000)}", "qty": rng.randrange(1, 5)} for _ in range(3)],
            "total": round(rng.random() * 500, 2),
            "gift": rng.random() < 0.1,
        }
    if kind == "customers":
        return {
            "_id": i,
            "name": f"customer {i}",
            "email": f"c{i}@example.com",
            "address": {"city": rng.choice(["Lyon", "Leeds", "Lagos", "Lima"]), "zip": f"{i % 99999:05d}"},
            "since": at,
        }
    return {
        "_id": ObjectId(),
        "kind": rng.choice(["view", "click", "buy"]),
        "user": rng.randrange(50_000),
        "at": at,
        "tags": rng.sample(["a", "b", "c", "d", "e"], 2),
        "payload": {"path": f"/p/{i % 1000}", "ms": rng.randrange(2000)},
    }


def seed(client: MongoClient[Any], docs: int) -> None:
    rng = random.Random(docs)
    for kind, share in SHARE.items():
        n = int(docs * share)
        coll = client.shop[kind]
        for start in range(0, n, BATCH):
            coll.insert_many(
                [_document(kind, i, rng) for i in range(start, min(start + BATCH, n))], ordered=False
            )
        coll.create_indexes([IndexModel(list(spec.items())) for spec in SHAPES[kind]])


def run(*args: str) -> tuple[dict[str, Any], float, float]:
    """lifeboat ARGS --json as its own process: (its JSON, wall seconds, peak RSS in MiB)."""
    t = time.perf_counter()
    out, rss_kib = run_cli(*args)
    return out, time.perf_counter() - t, rss_kib / 1024


def measure(docs: int, jobs: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    # Every server is the bench's own, so each command's peak RSS is Lifeboat's alone (wait4's
    # figure includes the processes a command starts, such as a drill's scratch server).
    with (
        ScratchServer(private=False) as src,
        ScratchServer(private=False) as plain,
        ScratchServer(private=False) as pitr,
        ScratchServer(private=False) as staging,
    ):
        source: MongoClient[Any] = MongoClient(src.uri)
        seed(source, docs)
        repo = "file://" + tempfile.mkdtemp(prefix="lifeboat-bench-scale-")
        run("init", "--repo", repo)
        _, wall, rss = run("backup", "--source", src.uri, "--repo", repo, "-j", str(jobs))
        out["backup"] = {"docs_s": docs / wall, "rss": rss}
        stream = subprocess.Popen(
            [sys.executable, "-m", "mongo_lifeboat", "stream", "--source", src.uri, "--repo", repo],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rng = random.Random(1)
        for i in range(3000):  # changes for the point-in-time restore to replay
            source.shop.customers.update_one(
                {"_id": rng.randrange(int(docs * SHARE["customers"]))}, {"$inc": {"n": 1}}
            )
            if i % 3 == 0:
                source.shop.events.insert_one(_document("events", docs + i, rng))
        stream.send_signal(signal.SIGTERM)  # it drains: everything written so far is committed
        stream.wait(timeout=300)
        _, wall, rss = run("restore", "latest", "--repo", repo, "--target", plain.uri, "-j", str(jobs))
        out["restore"] = {"docs_s": docs / wall, "rss": rss}
        _, wall, rss = run("restore", "--to", "latest", "--repo", repo, "--target", pitr.uri, "-j", str(jobs))
        out["restore --to"] = {"docs_s": docs / wall, "rss": rss}
        drill, wall, rss = run(
            "drill", "--source", src.uri, "--repo", repo, "--staging", staging.uri, "-j", str(jobs)
        )
        assert drill["verdict"] == "pass", drill["failures"]
        out["drill"] = {"docs_s": docs / wall, "rss": rss, "proof_s": drill["phases"]["proof"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,400000,1000000", help="comma-separated document counts")
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        results[n] = measure(n, args.jobs)
        print(
            f"{n} docs: "
            + " | ".join(
                f"{c} {m['docs_s']:.0f} docs/s, peak RSS {m['rss']:.0f} MiB" for c, m in results[n].items()
            ),
            flush=True,
        )
    small, large = results[sizes[0]], results[sizes[-1]]
    print(f"ratios ({sizes[-1]} vs {sizes[0]} documents, same run; 1.00 = linear):")
    for command in small:
        print(
            f"  {command}: throughput {large[command]['docs_s'] / small[command]['docs_s']:.2f}, "
            f"peak RSS {large[command]['rss']:.0f} MiB vs {small[command]['rss']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
