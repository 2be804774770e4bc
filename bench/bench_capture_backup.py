"""Base-backup time with the bracket read from the oplog and from a change stream, side by side.

One source is seeded once; ``lifeboat backup --capture oplog`` and ``--capture change-stream``
then run in alternating order, each into a fresh repository, idle and under a steady writer
(``--write-rate`` single inserts per second into a collection of its own). Prints the median
seconds, the bracket's entries and the change-stream / oplog time ratio.

    python bench/bench_capture_backup.py --docs 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from pymongo import MongoClient

from bench_backup_restore import seed  # run from bench/: python bench/bench_capture_backup.py
from mongo_lifeboat.embedded import ScratchServer

CAPTURES = ("oplog", "change-stream")


class SteadyWriter(threading.Thread):
    def __init__(self, client: MongoClient[Any], rate: float) -> None:
        super().__init__(daemon=True)
        self.client, self.rate = client, rate
        self.stop = threading.Event()
        self.writes = 0

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            self.client.bench.writes.insert_one({"i": self.writes, "at": time.time()})
            self.writes += 1
            ahead = start + self.writes / self.rate - time.monotonic()
            if ahead > 0:
                self.stop.wait(ahead)


def backup(uri: str, capture: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="lifeboat-bench-repo-") as repo:
        url = f"file://{repo}"
        subprocess.run(
            [sys.executable, "-m", "mongo_lifeboat", "init", "--repo", url], check=True, capture_output=True
        )
        t = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "mongo_lifeboat", "backup", "--source", uri, "--repo", url,
             "--capture", capture, "--json"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        took = time.monotonic() - t
    manifest = json.loads(out.stdout)
    assert manifest["capture"] == capture, manifest
    return took, int(manifest["oplog_entries"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write-rate", type=float, default=200.0, help="inserts/s during the loaded runs")
    args = ap.parse_args()
    with ScratchServer(private=False) as server:
        client: MongoClient[Any] = MongoClient(server.uri)
        seed(client, args.docs)
        print(f"{args.docs} documents in 4 collections, 2 secondary indexes each; {args.rounds} rounds")
        for load in ("idle", f"{args.write_rate:g} inserts/s"):
            times: dict[str, list[float]] = {c: [] for c in CAPTURES}
            entries: dict[str, list[int]] = {c: [] for c in CAPTURES}
            rates: dict[str, list[float]] = {c: [] for c in CAPTURES}  # writes/s the source took
            for r in range(args.rounds):
                order = CAPTURES if r % 2 == 0 else CAPTURES[::-1]
                for capture in order:
                    writer = SteadyWriter(client, args.write_rate) if load != "idle" else None
                    if writer:
                        writer.start()
                    took, n = backup(server.uri, capture)
                    if writer:
                        writer.stop.set()
                        writer.join()
                    times[capture].append(took)
                    rates[capture].append(writer.writes / took if writer else 0.0)
                    entries[capture].append(n)
            med = {c: statistics.median(times[c]) for c in CAPTURES}
            for c in CAPTURES:
                print(
                    f"  {load:>18}  {c:>13}: {med[c]:6.2f} s median "
                    f"(rounds {', '.join(f'{t:.2f}' for t in times[c])}; bracket {statistics.median(entries[c]):.0f} entries"
                    + (
                        f"; the writer got {statistics.median(rates[c]):.0f} inserts/s)"
                        if load != "idle"
                        else ")"
                    )
                )
            print(f"  {load:>18}  change-stream / oplog time: {med['change-stream'] / med['oplog']:.2f}")


if __name__ == "__main__":
    main()
