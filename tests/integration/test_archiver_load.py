"""Acceptance (issue 25): under load the archiver keeps up, and the lag it reports is never
less than the lag there is; SIGTERM drains within a bound and the next start goes on.

The true lag is measured by the test itself, from the outside: the source's newest oplog
entry against the newest entry of a committed segment in the repository. The reported lag
is what ``lifeboat timeline --json`` shows (its ``archiver.exposure_s``: the recorded lag
plus the record's age), read through the same code in the test process so that sampling
every second does not start a Python process every second.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.json_documents import timeline_document
from mongo_lifeboat.oplog.reader import newest_entry
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo.repository import Repository

from ..support.cli import lifeboat, popen
from ..support.data import assert_same
from ..support.servers import ServerPool
from ..support.waiting import wait_for

WRITERS = 4
WRITE_S = 20.0
ALLOWED_UNDERSTATEMENT_S = 2.0
# The load of the issue's measurement (four clients, ~2,500 entries/s). Unpaced, the writers'
# rate depends on how loaded the machine is (2,500-3,500/s seen on two cores), and the test
# would judge the machine, not the archiver; its top rate is bench/bench_oplog.py's job.
RATE = 2_500
SATURATED_BOUND_S = 12.0
# The share of the machine's CPU left idle below which it had no room for the load (the
# writers, the server and the archiver share two cores; anything else running takes it).
ROOM = 0.15


class Writers:
    """``WRITERS`` clients inserting 20-document batches, ``rate`` entries a second in all
    (as fast as the server takes them when ``rate`` is None)."""

    def __init__(self, uri: str, rate: float | None = None) -> None:
        self.interval = WRITERS * 20 / rate if rate else 0.0  # one client's time per batch
        self.stop = threading.Event()
        self.inserted = 0
        self.last_ack = 0.0  # when the source last acknowledged a write (this host's clock)
        self.started = 0.0  # when the writers started (nothing was written since the base)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(uri, k)) for k in range(WRITERS)]

    def _run(self, uri: str, k: int) -> None:
        with MongoClient(uri) as client:
            coll = client.load[f"w{k}"]
            i, start = 0, time.monotonic()
            while not self.stop.is_set():
                # Paced by a schedule, not by a pause after each batch: a slow batch is made
                # up for by the next ones, so the rate holds whatever one batch costs.
                ahead = start + i * self.interval - time.monotonic()
                if ahead > 0 and self.stop.wait(ahead):
                    break
                coll.insert_many([{"_id": f"{i}-{j}", "k": k, "pad": "x" * 64} for j in range(20)])
                i += 1
                with self._lock:
                    self.inserted += 20
                    self.last_ack = time.time()

    def __enter__(self) -> Writers:
        self.started = time.time()
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def _wall(value: Any) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _true_lag(writers: Writers, repo: Repository, deployment: str) -> float:
    """The newest acknowledged write against the newest committed entry, or the writers'
    start if later (the source is on this host: one clock). Asking the server for its newest
    entry would cost it a scan."""
    segments = list_segments(repo.storage, deployment)
    if segments:
        committed = datetime.fromisoformat(
            max(segments, key=lambda s: s.end).last_wall.replace("Z", "+00:00")
        )
    else:  # nothing archived yet: what is safe ends at the base backup's consistent point
        end = max(b.manifest.end for b in repo.list_backups() if b.manifest)
        committed = datetime.fromtimestamp(end.time, UTC)
    # What a lost source would cost: the writes after the archive's newest committed entry,
    # which began no earlier than the writers did (the archiver was idle and caught up then).
    safe = max(committed.timestamp(), writers.started)
    return max(0.0, writers.last_ack - safe) if writers.last_ack else 0.0


def _backed_up(servers: ServerPool, repo: Repository) -> tuple[Any, MongoClient[Any]]:
    """A source with a base backup in ``repo``: the archive chains from there."""
    source = servers.new()
    src = source.client()
    src.load.w0.insert_one({"_id": "seed"})
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    return source, src


def _confirmed(repo: Repository) -> bool:
    state = load_history(repo).timeline.state
    return bool(state and state.get("confirmed_at"))


def _cpu_times() -> tuple[float, float]:
    """(idle, total) CPU time of the whole machine so far, from /proc/stat (Linux)."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def test_under_load_the_reported_lag_is_never_below_the_true_lag(
    servers: ServerPool, repo: Repository
) -> None:
    source, _ = _backed_up(servers, repo)
    deployment = load_history(repo).deployment
    stream = popen("stream", "--source", source.uri, "--repo", repo.url)
    try:
        # The load starts on an archiver that is tailing: one that has opened its cursor,
        # settled what the open read (SETTLE_S) and confirmed there is nothing more. (A start
        # under load holds its first reads for that margin: a transient, not the steady lag.)
        wait_for(lambda: _confirmed(repo), "the archiver to confirm it is caught up", 60)
        samples: list[tuple[float, float]] = []  # (true, reported)
        idle_before, total_before = _cpu_times()
        with Writers(source.uri, RATE) as writers:
            deadline = time.monotonic() + WRITE_S
            while time.monotonic() < deadline:
                tick = time.monotonic()
                # Reported first, then the truth: the truth is taken later, so it can only be
                # larger than it was when the report was read (the comparison is fair).
                reported = timeline_document(load_history(repo, deployment))["archiver"]["exposure_s"]
                true = _true_lag(writers, repo, deployment)
                samples.append((true, float(reported)))
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))  # one sample a second
            rate = writers.inserted / WRITE_S
        idle_after, total_after = _cpu_times()
        idle = (idle_after - idle_before) / max(total_after - total_before, 1.0)
    finally:
        stream.send_signal(signal.SIGTERM)
        assert stream.wait(60) == 0
    worst = max(true - reported for true, reported in samples)
    assert worst <= ALLOWED_UNDERSTATEMENT_S, f"understated by {worst:.1f}s: {samples}"
    assert rate > RATE / 2, f"the writers reached only {rate:.0f} inserts/s"
    p95 = _p95([true for true, _ in samples])
    # The goal holds where the machine had room for the load: the writes kept their pace and
    # CPU was left idle. On a saturated machine (the writers, the server and the archiver
    # share two cores, and anything else running takes from them) the lag must still stay
    # bounded, not run away.
    room = rate >= 0.9 * RATE and idle >= ROOM
    bound = 2.0 if room else SATURATED_BOUND_S
    assert p95 < bound, f"true lag p95 {p95:.1f}s at {rate:.0f} inserts/s, {idle:.0%} idle: {samples}"
    assert lifeboat("verify", "--all", "--repo", repo.url).code == 0


def test_sigterm_drains_within_its_bound_and_the_next_start_goes_on(
    servers: ServerPool, repo: Repository
) -> None:
    source, src = _backed_up(servers, repo)
    # No time at all to drain: what the oplog holds past the last commit is left to the next start.
    stream = popen("stream", "--source", source.uri, "--repo", repo.url, "--drain-timeout", "0")
    wait_for(lambda: load_history(repo).timeline.state is not None, "the archiver's first record", 60)
    with Writers(source.uri):
        deployment = load_history(repo).deployment
        wait_for(lambda: len(list_segments(repo.storage, deployment)) >= 3, "segments under load", 60)
    last = newest_entry(src)["ts"]
    sent = time.monotonic()
    stream.send_signal(signal.SIGTERM)
    assert stream.wait(30) == 0
    assert time.monotonic() - sent < 5.0, "SIGTERM took longer than drain_timeout (0) + 5s"
    assert stream.stderr is not None
    said = stream.stderr.read()
    assert "behind the source after draining for 0s" in said, said
    # The next start archives the rest: no gap, no duplicate, and a restore to the last write.
    again = popen("stream", "--source", source.uri, "--repo", repo.url)
    try:
        assert again.stderr is not None
        # Started (its SIGTERM handler in place) once it says where it archives from.
        assert any("stream: archiving" in line for line in iter(again.stderr.readline, ""))
        wait_for(lambda: (load_history(repo).timeline.archived_to or last) >= last, "the rest archived", 60)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(60) == 0
    history = load_history(repo)
    assert not history.timeline.gaps
    assert lifeboat("verify", "--all", "--repo", repo.url).code == 0
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", repo.url)
    assert res.code == 0, res.stderr
    assert_same(target.client(), src)


@pytest.mark.parametrize("capture", ["oplog", "change-stream"])
def test_sigterm_under_constant_writes_drains_to_the_signal_and_stops(
    servers: ServerPool, repo: Repository, capture: str
) -> None:
    """Writes that never pause must not keep a drain going to its timeout (30 s): it ends once
    it has archived what was written before the signal."""
    source, src = _backed_up(servers, repo)
    stream = popen("stream", "--source", source.uri, "--repo", repo.url, "--capture", capture)
    try:
        wait_for(lambda: _confirmed(repo), "the archiver to confirm it is caught up", 60)
        with Writers(source.uri, RATE):
            deployment = load_history(repo).deployment
            wait_for(lambda: len(list_segments(repo.storage, deployment)) >= 2, "segments under load", 60)
            with src.start_session() as session:
                src.load.marker.insert_one({"_id": "before the signal"}, session=session)
                marker = session.operation_time
            sent = time.monotonic()
            stream.send_signal(signal.SIGTERM)
            code = stream.wait(60)
            took = time.monotonic() - sent
    finally:
        if stream.poll() is None:
            stream.kill()
    assert stream.stderr is not None
    said = stream.stderr.read()
    assert code == 0, said
    assert "behind the source after draining" not in said and took < 20.0, (took, said)
    assert marker is not None and load_history(repo).timeline.archived_to >= marker
