"""What an old archive costs: the same history archived as many small segments and as a few large
ones, then the commands that read it, timed with a per-request latency injected (an object store
is 20-50 ms a request) and their requests counted.

1. One source, one base backup in two repositories; two archivers run side by side while a
   paced writer writes: ``--small-seconds`` segments into one, ``--large-seconds`` into the
   other. The same entries end up in both.
2. Each repository is read through a wrapper that sleeps ``--latency-ms`` per request (per
   1,000 keys of a listing, as an object store pages them) and counts requests by kind.
3. Timed: the history load (``timeline``, ``check``, the dashboard), the incident scan,
   ``restore --to latest`` into a fresh server with the segment spool (one read per segment)
   and with it off (the verify pass, then a serial second read: how restores read before).

Prints a table, then the ratios last.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history, scan_incidents
from mongo_lifeboat.catalog.points import LATEST
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.archiver import Archiver, ArchiverOptions
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore


class Slow:
    """A storage that answers after ``latency_s`` a request, and counts them."""

    def __init__(self, inner: Any, latency_s: float) -> None:
        self.inner, self.latency_s, self.url = inner, latency_s, inner.url
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _request(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.requests[kind] += n
        time.sleep(self.latency_s * n)  # the injected latency under test

    def get(self, key: str, offset: int = 0, length: int | None = None) -> Any:
        self._request("get")
        return self.inner.get(key, offset, length)

    def stat(self, key: str) -> Any:
        self._request("stat")
        return self.inner.stat(key)

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[Any]:
        self._request("list")
        for i, info in enumerate(self.inner.list(prefix, with_meta)):
            if i and i % 1000 == 0:
                self._request("list")  # the next page
            yield info

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _archive(src_uri: str, repos: dict[str, tuple[Repository, float]], seconds: float, rate: float) -> None:
    stop = threading.Event()
    threads = []
    for repo, segment_s in repos.values():
        archiver = Archiver(
            repo, ArchiverOptions(src_uri, segment_seconds=segment_s, segment_bytes=1 << 30, poll_s=0.02)
        )
        threads.append(threading.Thread(target=archiver.run, args=(stop,)))
    for t in threads:
        t.start()
    client: MongoClient[Any] = MongoClient(src_uri)
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        n += 1
        client.bench.orders.insert_one({"n": n, "pad": "x" * 200})
        if n % 7 == 0:
            client.bench.orders.update_one({"n": n - 3}, {"$set": {"seen": True}})
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))  # the writer's pace
    client.bench.orders.delete_many({"n": {"$lt": 300}})  # an incident to find
    time.sleep(max(s for _, s in repos.values()) + 1.0)  # the last segments close at their time
    stop.set()
    for t in threads:
        t.join()


def _timed(slow: Slow, fn: Callable[[], Any]) -> tuple[float, int]:
    before = sum(slow.requests.values())
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, sum(slow.requests.values()) - before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the writer writes")
    ap.add_argument("--rate", type=float, default=100.0, help="writes per second")
    ap.add_argument("--small-seconds", type=float, default=0.1)
    ap.add_argument("--large-seconds", type=float, default=60.0)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    with ScratchServer(["--oplog-max-entries", "1000000"], private=False) as src:
        MongoClient(src.uri).bench.orders.insert_many([{"n": -i, "pad": "y" * 200} for i in range(2000)])
        root = Path(tempfile.mkdtemp(prefix="lifeboat-bench-age-"))
        repos = {
            "small": (Repository.init(f"file://{root}/small"), args.small_seconds),
            "large": (Repository.init(f"file://{root}/large"), args.large_seconds),
        }
        for repo, _ in repos.values():
            run_backup(repo, BackupOptions(src.uri))
        _archive(src.uri, repos, args.seconds, args.rate)
        rows: dict[str, dict[str, tuple[float, int]]] = {}
        for name, (repo, _) in repos.items():
            slow = Slow(FileStorage(root / name), args.latency_ms / 1000)
            slowed = Repository(slow, repo.info)  # type: ignore[arg-type]
            history = load_history(slowed)
            rows[name] = {"segments": (0.0, len(history.segments))}
            rows[name]["timeline/check"] = _timed(slow, lambda r=slowed: load_history(r))
            rows[name]["incidents"] = _timed(slow, lambda r=slowed, h=history: scan_incidents(r, h))
            for label, spool in (("restore --to latest", 8 << 30), ("restore, two passes (before)", 0)):
                with ScratchServer(private=False) as target:
                    client: MongoClient[Any] = MongoClient(target.uri)

                    def restore(r: Repository = slowed, c: Any = client, s: int = spool) -> None:
                        plan, pitr = choose_restore(r, "latest", LATEST, None, NamespaceMap.build())
                        run_restore(
                            r, plan, c, RestoreOptions(jobs=args.jobs, segment_spool_bytes=s), pitr=pitr
                        )

                    rows[name][label] = _timed(slow, restore)
                    client.close()
    print(
        f"archive age: {args.seconds:g}s of writes at {args.rate:g}/s, latency {args.latency_ms:g} ms a request, "
        f"{args.jobs} jobs"
    )
    print(f"  {'command':<30} {'small: s':>9} {'requests':>9} {'large: s':>9} {'requests':>9}")
    for label in rows["small"]:
        (a, ra), (b, rb) = rows["small"][label], rows["large"][label]
        if label == "segments":
            print(f"  {'segments':<30} {'':>9} {ra:>9} {'':>9} {rb:>9}")
            continue
        print(f"  {label:<30} {a:>9.2f} {ra:>9} {b:>9.2f} {rb:>9}")
    print("ratios (same history, same run):")
    for label in ("timeline/check", "incidents", "restore --to latest"):
        print(f"  {label}: small segments / large = {rows['small'][label][0] / rows['large'][label][0]:.2f}x")
    before, after = rows["small"]["restore, two passes (before)"][0], rows["small"]["restore --to latest"][0]
    print(f"  restore over small segments, two passes / one read = {before / after:.2f}x")


if __name__ == "__main__":
    main()
