"""``lifeboat history`` of one document against a ``restore --to`` of its collection, on the
same repository: a base backup, then an archive holding ``--others`` entries of other documents
of the same collection around a few changes of the one followed.

Prints both times (each a ``lifeboat`` process, started the same way), their ratio (goal: history
under 0.25 of the restore), and how many objects history read against how many the repository
holds for it (each needed segment read once).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bson import ObjectId, Timestamp
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backup_restore import run_cli
from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.oplog.capture.archiver import Archiver, ArchiverOptions
from mongo_lifeboat.repo.repository import Repository


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-docs", type=int, default=50_000)
    ap.add_argument("--others", type=int, default=200_000)
    args = ap.parse_args()
    with (
        ScratchServer(["--oplog-max-entries", str(args.others * 2)], private=False) as src,
        ScratchServer(private=False) as target,
    ):
        client: MongoClient[Any] = MongoClient(src.uri)
        orders = client.shop.orders
        for start in range(0, args.base_docs, 10_000):
            orders.insert_many(
                [{"_id": i, "n": i, "s": "x" * 80} for i in range(start, min(start + 10_000, args.base_docs))]
            )
        url = "file://" + tempfile.mkdtemp(prefix="lifeboat-bench-history-")
        repo = Repository.init(url)
        run_backup(repo, BackupOptions(src.uri))
        followed = ObjectId()
        stop = threading.Event()
        archiver = Archiver(repo, ArchiverOptions(src.uri, segment_seconds=2.0, segment_bytes=4 << 20))
        thread = threading.Thread(target=archiver.run, args=(stop,))
        thread.start()
        orders.insert_one({"_id": followed, "v": 0, "tags": []})
        batch, written = 10_000, 0
        while written < args.others:
            orders.insert_many([{"_id": f"o-{written + i}", "n": i, "s": "y" * 80} for i in range(batch)])
            written += batch
            orders.update_one({"_id": followed}, {"$inc": {"v": 1}, "$push": {"tags": written}})
        newest = client.local["oplog.rs"].find_one(sort=[("$natural", -1)])["ts"]
        while (load_history(repo).timeline.archived_to or Timestamp(0, 0)) < newest:
            time.sleep(0.2)  # waiting for the archiver to reach the newest entry
        stop.set()
        thread.join()
        segments = len(load_history(repo).segments)

        t = time.perf_counter()
        found, _ = run_cli(
            "history", "shop.orders", f'{{"$oid": "{followed}"}}', "--repo", url, "--archive-only"
        )
        history_s = time.perf_counter() - t
        t = time.perf_counter()
        run_cli(
            "restore", "--to", "latest", "--ns-include", "shop.orders", "--target", target.uri, "--repo", url
        )
        restore_s = time.perf_counter() - t
    print(
        f"{args.base_docs} documents in the base, {args.others} archived entries of others in {segments} segments; "
        f"the followed document has {len(found['versions'])} versions"
    )
    print(f"history: {history_s:.2f}s, reading {found['objects_read']} objects (segments: {segments})")
    print(f"restore --to latest of shop.orders: {restore_s:.2f}s")
    print(f"history / restore --to: {history_s / restore_s:.2f} (goal < 0.25)")


if __name__ == "__main__":
    main()
