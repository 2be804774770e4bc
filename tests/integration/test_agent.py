"""Acceptance (issue 11): ``lifeboat agent`` carries out the plan unattended, at test scale
(schedules with a seconds field), against a writer, with a local web hook."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.errors import BackupNotFound
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import to_str

from ..support.agent import AgentRun
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool
from ..support.traffic import Oracle, Traffic
from ..support.waiting import wait_for
from ..support.webhook import webhook

DOCS = 200
TRAFFIC = ["shop.orders", "shop.Customers", "analytics.Événements clients"]


def _plan(source: str, repo: str, hook: str, *, broken: Path | None = None, rpo: str = "1m") -> str:
    staging = 'staging = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"\n' if broken else ""
    extra_repo = f'[[repository]]\nname = "b"\nurl = "file://{broken}"\n' if broken else ""
    return f"""
[deployment]
name = "orders-test"
source = "{source}"
[owner]
name = "Test SRE"
contact = "sre@example.com"
[objectives]
rpo = "{rpo}"
rto = "10m"
[[repository]]
name = "a"
url = "{repo}"
keep_last = 2
{extra_repo}
[schedule]
base_backup = "* * * * * */10"
drill = "* * * * * */6"
[alerts]
notify = ["{hook}"]
[drill]
{staging}
[archiver]
merge_minutes_after = "0s"
compact_schedule = "* * * * * */5"
[agent]
check_interval = "2s"
warmup = "3s"
segment_seconds = 1
"""


def _sent(run: AgentRun, condition: str, status: str, since: int = 0) -> list[dict[str, Any]]:
    """The events the agent sent for ``condition`` (from the ``since``-th on)."""
    return [e for e in run.api("events")[since:] if e["condition"] == condition and e["status"] == status]


def _after_failure(run: AgentRun, condition: str) -> list[dict[str, Any]]:
    """The success events the agent sent for ``condition`` after its last failure."""
    events = run.api("events")
    last = max(i for i, e in enumerate(events) if e["condition"] == condition and e["status"] == "failure")
    return [e for e in events[last:] if e["condition"] == condition and e["status"] == "success"]


def _backup_runs(run: AgentRun) -> int:
    return int(next(j["runs"] for j in run.api("status")["jobs"] if j["name"] == "backup"))


def _check(run: AgentRun, check_id: str) -> str:
    return next((c["status"] for c in run.api("checks")["checks"] if c["id"] == check_id), "?")


def test_the_agent_carries_out_the_plan_and_says_each_failure_once(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(DOCS)
    src = source.client()
    repo = "file://" + str(tmp_path / "a")
    assert lifeboat("init", "--repo", repo).code == 0
    traffic = Traffic(src, {ns: list(range(DOCS)) for ns in TRAFFIC}).start()
    with webhook() as hook:
        plan = tmp_path / "lifeboat.toml"
        plan.write_text(_plan(source.uri, repo, hook.url))
        run = AgentRun(plan)
        try:
            # 1. The plan, carried out: archiving, backups on schedule, prune after each, drills.
            def carried_out() -> bool:
                status = run.api("status")
                jobs = {j["name"]: j for j in status["jobs"]}
                pruned = [
                    e for e in run.api("events") if e["event"] == "prune" and e["details"]["deleted_backups"]
                ]
                passed = [d for d in status["drills"] if d["verdict"] == "pass"]
                return jobs["backup"]["runs"] >= 3 and bool(pruned) and bool(passed)

            wait_for(carried_out, "3 backups, a prune that deleted one, a passing drill", 240)
            assert run.api("status")["archiver"]["running"]

            # 2. Three things go wrong: a repository, the archiver, the drills.
            phase = len(run.api("events"))
            broken = tmp_path / "b-is-a-file"
            broken.write_text("not a repository")
            plan.write_text(_plan(source.uri, repo, hook.url, broken=broken, rpo="6s"))
            run.signal(signal.SIGHUP)
            wait_for(
                lambda: any(e["condition"] == "plan" for e in run.api("events")), "the plan to reload", 60
            )
            wait_for(lambda: _check(run, "repositories") == "critical", "the broken repository on /api", 30)
            pid = run.api("status")["archiver"]["pid"]
            os.kill(pid, signal.SIGSTOP)  # the archiver hangs
            try:
                wait_for(lambda: _check(run, "archiver") == "critical", "the stalled archiver on /api", 40)
                wait_for(
                    lambda: run.api("status")["conditions"].get("drill", {}).get("occurrences", 0) >= 2,
                    "two failed drills",
                    90,
                )
                page = run.get("/").decode()
                assert 'data-repository="b"' in page and 'badge critical">down' in page
                assert 'data-check="archiver"' in page and "status-critical" in page
                # Still on the page however many events came after it: the open drill failure.
                assert 'data-condition="drill"' in page and "drill failed (exit" in page
            finally:
                os.kill(pid, signal.SIGCONT)
            # Each said once, however often it was seen.
            for condition in ("check:repositories", "check:archiver", "drill"):
                failures = _sent(run, condition, "failure", phase)
                assert len(failures) == 1, (condition, [e["summary"] for e in run.api("events")])

            # 3. Fixed: each sends one "resolved" after its failure (a drill that was already
            # running when things went wrong may have passed before it, said as a plain pass).
            plan.write_text(_plan(source.uri, repo, hook.url))
            run.signal(signal.SIGHUP)
            for condition in ("check:repositories", "check:archiver", "drill"):
                wait_for(lambda c=condition: bool(_after_failure(run, c)), f"{condition} resolved", 90)  # type: ignore[misc]
                assert _after_failure(run, condition)[0]["summary"].startswith("resolved: ")
            # Writes after a fresh base backup: the newest window spans them (a backup ticks
            # every 10 s; the agent stops well before the next).
            runs = _backup_runs(run)
            wait_for(lambda: _backup_runs(run) > runs, "one more base backup", 60)

            # Compaction ran beside the archiver, the backups and prune: a minute of per-second
            # segments merged (prune then takes merged segments with what they hold; every check
            # below holds over what compaction and prune left).
            def compacted() -> dict[str, Any]:
                return next(j for j in run.api("status")["jobs"] if j["name"] == "compact")

            wait_for(
                lambda: compacted()["done"].get("segments_merged", 0) > 0, "a minute of segments merged", 120
            )
            assert compacted()["last"]["exit_code"] == 0, compacted()
            traffic.wait_ops(20)
            sent = run.api("events")
        finally:
            log = traffic.stop()
            code = run.stop()
        assert code == 0, run.log
        # Every event the agent sent reached the web hook.
        delivered = {p["message"].split("\n")[0] for p in hook.payloads()}
        assert sent and all(e["summary"] in delivered for e in sent), [
            e["summary"] for e in sent if e["summary"] not in delivered
        ]

    # Archived continuously: no gap; keep_last = 2 kept two base backups (pruning the archive
    # before the older one), the older the start of the first window, each a base of one (the
    # newer in the same window when the archive reached it before the agent stopped, else in
    # its own), the newest reaching the last write.
    repository = Repository.open(repo)
    history = load_history(repository)
    windows = history.timeline.windows
    assert not history.timeline.gaps and len(history.manifests) == 2
    assert windows[0].backups[0] == history.manifests[0].backup_id
    assert [b for w in windows for b in w.backups] == [m.backup_id for m in history.manifests]
    assert windows[-1].end >= log[-1].ts_after
    # The latest moment restores to the source as the traffic left it.
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--repo", repo, "--target", target.uri)
    assert res.code == 0, res.stderr
    assert_same(target.client(), src)
    # A point during the run restores exactly, where a window still holds writes: keep_last
    # prunes the archive between two kept bases, so only the newest window spans time, and it
    # holds none when the last backup came after the traffic stopped (a backup tick may fall
    # between the traffic's stop and the agent's).
    candidates = [op for op in log if any(w.start < op.ts_before and op.ts_after <= w.end for w in windows)]
    if candidates:
        point = candidates[len(candidates) // 2].ts_after
        target = servers.new()
        res = lifeboat("restore", "--to", to_str(point), "--repo", repo, "--target", target.uri)
        assert res.code == 0, res.stderr
        oracle = Oracle(servers.new().client(), DOCS)
        oracle.replay_before(log, point, src)
        assert_same(target.client(), oracle.client)


def test_an_agent_killed_mid_backup_runs_it_again_once_without_a_gap(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src = source.client()
    repo = "file://" + str(tmp_path / "a")
    assert lifeboat("init", "--repo", repo).code == 0
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nname = "a"\nurl = "{repo}"\n'
        '[schedule]\nbase_backup = "0 0 1 1 *"\n'  # once a year: only the run missed at start
        '[agent]\ncheck_interval = "2s"\nsegment_seconds = 1\n'
    )
    repository = Repository.open(repo)
    # The first agent's backup stops just before its manifest, and the agent is killed there.
    first = AgentRun(plan, env={"LIFEBOAT_FAULT": "before-manifest:stall"})
    try:
        wait_for(lambda: bool(repository.list_backups()), "the backup to be under way", 60)
        wait_for(
            lambda: any("archiving" in line for line in first.api("status")["archiver"]["log"]),
            "the archiver",
            60,
        )
        src.shop.orders.insert_many([{"_id": f"while-{i}", "qty": i} for i in range(50)])
        wait_for(lambda: _segments(repository) > 0, "the archiver to archive", 60)
    finally:
        first.kill()  # SIGKILL: no cleanup of any kind; its children die with it
        print("first agent:\n" + first.log)  # shown when the test fails
    stalled = repository.list_backups()
    assert [b.complete for b in stalled] == [False]
    src.shop.orders.insert_many([{"_id": f"between-{i}", "qty": i} for i in range(50)])

    second = AgentRun(plan)
    try:
        wait_for(
            lambda: any(b.complete for b in Repository.open(repo).list_backups()), "the backup, run again", 90
        )
        wait_for(lambda: bool(run_count(second)), "the agent to record its run", 30)
        src.shop.orders.insert_many([{"_id": f"after-{i}", "qty": i} for i in range(50)])
        end = src.local["oplog.rs"].find().sort("$natural", -1).limit(1).next()["ts"]
        wait_for(
            lambda: (load_history(Repository.open(repo)).timeline.archived_to or end) >= end,
            "the archive",
            60,
        )
        assert run_count(second) == 1
    finally:
        assert second.stop() == 0, second.log
    backups = Repository.open(repo).list_backups()
    assert [b.complete for b in backups] == [True]  # the stalled one was cleaned up; one run, not two
    assert backups[0].backup_id != stalled[0].backup_id
    timeline = load_history(Repository.open(repo)).timeline
    assert not timeline.gaps  # the archiver resumed where the killed one stopped
    target = servers.new()
    assert lifeboat("restore", "--to", "latest", "--repo", repo, "--target", target.uri).code == 0
    assert_same(src, target.client())


def _segments(repository: Repository) -> int:
    try:
        return len(load_history(repository).segments)
    except BackupNotFound:  # nothing complete and nothing archived yet
        return 0


def run_count(run: AgentRun) -> int:
    jobs = {j["name"]: j for j in run.api("status")["jobs"]}
    return int(jobs["backup"]["runs"]) if jobs["backup"]["last"] else 0
