"""What an old archive costs: the same history archived as many small segments and as a few large
ones, then the commands that read it, timed with a per-request latency injected (an object store
is 20-50 ms a request) and their requests counted.

1. One source, one base backup in two repositories; two archivers run side by side while a
   paced writer writes: ``--small-seconds`` segments into one, ``--large-seconds`` into the
   other. The same entries end up in both.
2. Each repository is read through a wrapper that sleeps ``--latency-ms`` per request (per
   1,000 keys of a listing, as an object store pages them) and counts requests by kind.
3. A copy of the small-segment repository is compacted (``oplog.compaction``, one merged
   segment per ``--span`` seconds): its time and requests are printed.
4. Timed in each of the three (small, compacted, large): the history load (``timeline``,
   ``check``, the dashboard's status), ``list``, ``prune --dry-run``, ``verify --all`` of the
   archive, the incident scan and ``restore --to latest`` into a fresh server.
5. Extrapolated: the listing and the restore's reads of a week and a year of 1-s segments, as
   they are and compacted by the default levels, from the measured cost of a request.

Prints a table, then the ratios last.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.backup.prune import prune
from mongo_lifeboat.backup.retention import Policy
from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history, scan_incidents
from mongo_lifeboat.catalog.points import LATEST
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.capture.archiver import Archiver, ArchiverOptions
from mongo_lifeboat.oplog.compaction import Level, compact
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.restore.pitr import choose_restore
from mongo_lifeboat.restore.service import RestoreOptions, run_restore
from mongo_lifeboat.verify.integrity import verify_segments


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

    def put(self, key: str, stream: Any, meta: dict[str, str] | None = None) -> Any:
        self._request("put")
        return self.inner.put(key, stream, meta)

    def delete(self, keys: Any) -> None:
        keys = list(keys)
        self._request("delete", max(1, -(-len(keys) // 1000)))  # a batch delete takes 1,000 keys
        self.inner.delete(keys)

    def locked_until(self, key: str) -> Any:
        self._request("stat")
        return self.inner.locked_until(key)

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


def _measure(slow: Slow, slowed: Repository, jobs: int) -> dict[str, tuple[float, int]]:
    history = load_history(slowed)
    dep = history.deployment
    row: dict[str, tuple[float, int]] = {"segments": (0.0, len(history.segments))}
    row["timeline / check (history)"] = _timed(slow, lambda: load_history(slowed))
    row["list (backups)"] = _timed(slow, slowed.list_backups)
    row["prune --dry-run"] = _timed(
        slow, lambda: prune(slowed, load_history(slowed), Policy(keep_last=1), 86400.0, dry_run=True)
    )
    row["verify --all (archive)"] = _timed(slow, lambda: verify_segments(slowed.storage, dep, jobs))
    row["incidents"] = _timed(slow, lambda: scan_incidents(slowed, history))
    with ScratchServer(private=False) as target:
        client: MongoClient[Any] = MongoClient(target.uri)

        def restore() -> None:
            plan, pitr = choose_restore(slowed, "latest", LATEST, None, NamespaceMap.build())
            run_restore(slowed, plan, client, RestoreOptions(jobs=jobs), pitr=pitr)

        row["restore --to latest"] = _timed(slow, restore)
        client.close()
    return row


def _extrapolate(latency_s: float, per_object_list: float, in_flight: int) -> None:
    """Requests of the commands above for an archive of 1-second segments (86,400 a day) a week
    and a year old, as they are and compacted by the default levels, from the measured cost of
    a request; a restore replays a week (a weekly base)."""
    day, hour = 86_400, 3_600
    cases = {
        "week": 7 * day,
        "year": 365 * day,
    }
    print("extrapolated (1-s segments under constant writes; restore replays the week after a weekly base):")
    print(f"  {'archive':<8} {'objects':>12} {'listing':>10} {'restore GETs':>13} {'restore reads':>14}")
    for label, seconds in cases.items():
        for state, objects, replay in (
            ("as is", seconds, 7 * day),
            (
                "compacted",
                hour + (day - hour) // 60 + (seconds - day) // hour,
                hour + (day - hour) // 60 + 6 * 24,
            ),
        ):
            listing = objects * per_object_list * latency_s
            reads = replay / in_flight * latency_s
            print(f"  {label:<8} {objects:>12,} {listing:>9.1f}s {replay:>13,} {reads:>13.1f}s   ({state})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the writer writes")
    ap.add_argument("--rate", type=float, default=100.0, help="writes per second")
    ap.add_argument("--small-seconds", type=float, default=0.1)
    ap.add_argument("--large-seconds", type=float, default=60.0)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--span", type=int, default=60, help="compaction: one merged segment per SPAN seconds")
    args = ap.parse_args()
    with ScratchServer(["--oplog-max-entries", "1000000"], private=False) as src:
        seeder: MongoClient[dict[str, Any]] = MongoClient(src.uri)
        seeder.bench.orders.insert_many([{"n": -i, "pad": "y" * 200} for i in range(2000)])
        root = Path(tempfile.mkdtemp(prefix="lifeboat-bench-age-"))
        repos = {
            "small": (Repository.init(f"file://{root}/small"), args.small_seconds),
            "large": (Repository.init(f"file://{root}/large"), args.large_seconds),
        }
        for repo, _ in repos.values():
            run_backup(repo, BackupOptions(src.uri))
        _archive(src.uri, repos, args.seconds, args.rate)
        shutil.copytree(root / "small", root / "compacted")
        latency = args.latency_ms / 1000
        slow = Slow(FileStorage(root / "compacted"), latency)
        compacted = Repository(slow, repos["small"][0].info)
        dep = load_history(compacted).deployment
        later = datetime.now(UTC) + timedelta(days=2)  # every window already old enough
        done = _timed(slow, lambda: compact(compacted, dep, [Level(0.0, args.span)], now=later))
        rows: dict[str, dict[str, tuple[float, int]]] = {}
        for name in ("small", "compacted", "large"):
            slow = Slow(FileStorage(root / name), latency)
            rows[name] = _measure(slow, Repository(slow, repos["small"][0].info), args.jobs)
    print(
        f"archive age: {args.seconds:g}s of writes at {args.rate:g}/s, latency {args.latency_ms:g} ms a request, "
        f"{args.jobs} jobs; small: {args.small_seconds:g}s segments, compacted: those merged per {args.span}s, "
        f"large: {args.large_seconds:g}s segments"
    )
    print(f"  compaction of small: {done[0]:.2f}s, {done[1]} requests (once, in the background)")
    print(f"  {'command':<28}" + "".join(f" {n + ': s':>13} {'requests':>9}" for n in rows))
    for label in rows["small"]:
        cells = [rows[n][label] for n in rows]
        if label == "segments":
            print(f"  {'segments':<28}" + "".join(f" {'':>13} {r:>9}" for _, r in cells))
            continue
        print(f"  {label:<28}" + "".join(f" {t:>13.2f} {r:>9}" for t, r in cells))
    print("ratios (same history, same run):")
    for label in rows["small"]:
        if label == "segments":
            continue
        small, comp, large = (rows[n][label][0] for n in ("small", "compacted", "large"))
        print(f"  {label}: small / large = {small / large:.2f}x; compacted / large = {comp / large:.2f}x")
    _extrapolate(latency, 1 / 1000, args.jobs)  # an object store lists 1,000 keys a request


if __name__ == "__main__":
    main()
