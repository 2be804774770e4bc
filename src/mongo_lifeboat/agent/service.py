"""The agent: one long-running process per deployment that carries out the plan.

- keeps the archiver running (``supervisor``), restarted with backoff, gaps reported;
- takes base backups on ``schedule.base_backup`` and prunes every repository with a retention
  policy after each; runs drills on ``schedule.drill`` (``schedule``: a run missed while the
  agent was down runs once at start);
- runs the plan's checks every ``[agent] check_interval`` and after every job;
- sends what happened through the plan's notifiers, grouped (``alerts``), and serves the
  dashboard (``web``).

Jobs are ``lifeboat`` child processes (``children``): they take the repository leases as any
manual run does, so ``lifeboat backup`` by hand beside the agent is safe. SIGTERM: no new job
starts; a running backup or drill gets ``[agent] stop_grace`` to finish, then SIGTERM (an
interrupted backup stays incomplete and is removed by the next start); the archiver archives
what is in the oplog and exits. SIGHUP re-reads the plan (a plan that does not load is kept
out, with an event, and the old one goes on).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from bson import Timestamp

from .. import config
from ..catalog.history import scan_incidents
from ..documents import backups_document, drill_rows, timeline_document
from ..drill import report as drill_reports
from ..drill.report import DrillReport
from ..errors import LifeboatError
from ..events import Event, Status
from ..metrics import registry_for
from ..plan.checks import Result, overall, run_checks
from ..plan.facts import Facts, gather
from ..repo import layout
from ..repo.manifest import Manifest
from ..repo.records import put_record
from ..repo.repository import Repository
from ..secrets import redact
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import sinks_for
from ..timestamps import parse_position, wall_of
from ..verify.sampling import last_sample
from . import timeline_svg
from .alerts import Alerts
from .children import JobResult, Running, command
from .schedule import CronTrigger, due_at_start
from .supervisor import ArchiverSupervisor

log = logging.getLogger(__name__)

_LEVEL: dict[str, Status] = {"ok": "success", "warning": "warning", "critical": "failure"}


@dataclass
class JobState:
    name: str
    schedule: str | None = None
    running: Running | None = None
    last: JobResult | None = None
    runs: int = 0

    def describe(self, next_run: datetime | None) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "next": next_run.isoformat(timespec="seconds") if next_run else None,
            "running": self.running is not None,
            "runs": self.runs,
            "last": self.last.to_json() if self.last else None,
        }


@dataclass
class Snapshot:
    """What the last check cycle saw: the dashboard and the API show it."""

    time: str
    facts: Facts
    results: list[Result]
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return overall(self.results)


class Agent:
    DOCUMENTS = ("status", "checks", "timeline", "backups", "drills", "repositories", "events")

    def __init__(self, ctx: Session, plan_path: Path) -> None:
        self.ctx = ctx
        self.plan_path = plan_path
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.started = time.monotonic()
        self.repository: Repository = open_repository(ctx, None, every=True)
        self.alerts = Alerts(sinks_for(ctx, self.repository, None), self.plan.agent.repeat)
        self.jobs = {
            "backup": JobState("backup", self.plan.schedule.base_backup),
            "drill": JobState("drill", self.plan.schedule.drill),
            "prune": JobState("prune"),
            "sample": JobState("sample", self.plan.sampling.schedule),
        }
        self.snapshot: Snapshot | None = None
        self._incidents: dict[str, dict[str, Any]] = {}
        self._scanned_to: Timestamp | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self.supervisor = ArchiverSupervisor(
            plan_path,
            on_exit=self._archiver_exited,
            on_gap=self._archiver_gap,
            on_start=self._wake.set,
            segment_seconds=self.plan.agent.segment_seconds,
        )

    @property
    def plan(self) -> config.Plan:
        return self.ctx.plan

    @property
    def deployment(self) -> str:
        if self.plan.deployment.name:
            return self.plan.deployment.name
        facts = self.snapshot.facts if self.snapshot else None
        return (facts.deployment if facts else None) or "?"

    def _event(self, kind: str, status: Status, summary: str, **details: Any) -> Event:
        return Event(kind, status, self.deployment, self.repository.url, summary, details)

    # -- running -------------------------------------------------------------------

    def run(self, on_ready: Any = None) -> None:
        """Until SIGTERM/SIGINT (or ``stop()``)."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        self._cleanup_incomplete()
        self.supervisor.start()
        self._schedule(at_start=True)
        self.scheduler.start()
        if on_ready is not None:
            on_ready()
        try:
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                try:
                    self.check_cycle()
                except Exception as e:  # a check cycle that fails must not stop the agent
                    log.exception("check cycle failed")
                    self.alerts.outcome("agent", self._event("agent", "failure", f"check cycle failed: {e}"))
                self._wake.wait(self.plan.agent.check_interval)
                self._wake.clear()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload.set()
        self._wake.set()

    def _shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)  # nothing new starts
        deadline = time.monotonic() + self.plan.agent.stop_grace
        for job in self.jobs.values():  # a running backup or drill may finish …
            while job.running is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if job.running is not None:  # … or is stopped: it stays incomplete, removed at next start
                job.running.terminate()
        self.supervisor.stop()
        for job in self.jobs.values():
            running = job.running
            if running is not None:
                try:
                    running.wait(30)
                except Exception:
                    running.kill()

    def _cleanup_incomplete(self) -> None:
        """Backups left incomplete by a killed run (never a running one: their lease is live)."""
        result = Running(command(self.plan_path, "cleanup", "--json")).wait()
        if not result.ok:
            log.warning("cleanup of incomplete backups failed: %s", result.error)

    def _complete_backups(self) -> list[Manifest]:
        return [b.manifest for b in self.repository.list_backups() if b.manifest is not None]

    def _last_run(self, job: str) -> datetime | None:
        """When the job last ran, from the repository (the agent keeps no state of its own)."""
        try:
            complete = self._complete_backups()
            if job == "backup":
                return datetime.fromisoformat(complete[-1].started_at) if complete else None
            if job == "sample":
                last = last_sample(self.repository.storage)
                return datetime.fromisoformat(last["at"]) if last else None
            past = drill_reports.history(self.repository.storage, complete[-1].deployment) if complete else []
            return datetime.fromisoformat(past[-1].started_at) if past else None
        except (LifeboatError, OSError, ValueError):
            return None

    def _schedule(self, at_start: bool) -> None:
        now = datetime.now(UTC)
        for name, expr, fn in (
            ("backup", self.plan.schedule.base_backup, self.backup_job),
            ("drill", self.plan.schedule.drill, self.drill_job),
            ("sample", self.plan.sampling.schedule, self.sample_job),
        ):
            self.jobs[name].schedule = expr
            if self.scheduler.get_job(name):
                self.scheduler.remove_job(name)
            if not expr:
                continue
            extra: dict[str, Any] = {}
            if at_start and due_at_start(expr, self._last_run(name), now):
                extra["next_run_time"] = now  # missed while the agent was down: once, now
            self.scheduler.add_job(fn, CronTrigger(expr), id=name, name=name, **extra)

    def reload(self) -> None:
        try:
            plan = config.load_plan(self.plan_path)
        except LifeboatError as e:
            self.alerts.outcome(
                "plan",
                self._event("plan", "failure", f"the plan did not reload; the old one stays: {e.message}"),
            )
            return
        self.ctx.plan = plan
        self.alerts.repeat_s = plan.agent.repeat
        self._schedule(at_start=False)
        self.supervisor.segment_seconds = plan.agent.segment_seconds
        self.supervisor.restart()  # the archiver picks up the new source and repositories
        self.alerts.outcome("plan", self._event("plan", "success", f"plan {self.plan_path} reloaded"))

    # -- jobs ----------------------------------------------------------------------

    def _run(self, name: str, *args: str) -> JobResult:
        job = self.jobs[name]
        job.running = Running(command(self.plan_path, *args, "--json"))
        try:
            result = job.running.wait()
        finally:
            job.running = None
        job.last, job.runs = result, job.runs + 1
        self._wake.set()  # check after every job
        return result

    def _reported(self, kind: str, result: JobResult) -> Event:
        """The outcome the child reported on its events pipe, worded where it happened; a child
        that reported none (it crashed, or was killed) is a failure with its exit code."""
        reported = result.outcome(kind)
        if reported is None:
            return self._failed(kind, result)
        if reported.deployment == "?":  # a child that failed before it learned the deployment's name
            return replace(reported, deployment=self.deployment)
        return reported

    def _failed(self, kind: str, result: JobResult) -> Event:
        return self._event(
            kind,
            "failure",
            f"{kind} failed (exit {result.exit_code}): {result.error or 'see the agent log'}",
            exit_code=result.exit_code,
        )

    def backup_job(self) -> None:
        if self._stop.is_set():
            return
        result = self._run("backup", "backup")
        self.alerts.outcome("backup", self._reported("backup", result))
        if not result.ok:
            return
        self._cleanup_incomplete()
        self.prune_job()

    def prune_job(self) -> None:
        for repo in self.plan.repository:
            if not (repo.keep_last or repo.keep_daily or repo.keep_weekly or repo.recovery_window):
                continue
            result = self._run("prune", "prune", "--repo", repo.url)
            doc = result.document if isinstance(result.document, dict) else {}
            if not result.ok or not doc:
                self.alerts.outcome(f"prune:{repo.name}", self._failed("prune", result))
                continue
            deleted = [b["backup_id"] for b in doc.get("deleted_backups", [])]
            self.alerts.outcome(
                f"prune:{repo.name}",
                self._event(
                    "prune",
                    "success",
                    f"pruned {repo.name}: {len(deleted)} backup(s), {doc.get('deleted_segments', 0)} segment(s), "
                    f"{doc.get('bytes_freed', 0)} bytes freed",
                    repository_name=repo.name,
                    deleted_backups=deleted,
                ),
            )

    def drill_job(self) -> None:
        if self._stop.is_set():
            return
        if not self._complete_backups():
            log.info("drill skipped: no complete base backup yet (the last-backup check says so)")
            return
        result = self._run("drill", "drill")
        self.alerts.outcome("drill", self._reported("drill", result))

    def sample_job(self) -> None:
        """Each repository's daily read-back (``verify --sample``): damage it finds is a
        ``repository`` failure naming the objects (and the check stays critical until repaired)."""
        for repo in self.plan.repository:
            if self._stop.is_set():
                return
            result = self._run("sample", "verify", "--sample", "--repo", repo.url)
            doc = result.document if isinstance(result.document, dict) else {}
            if not doc:
                self.alerts.outcome(f"repository:{repo.name}", self._failed("repository", result))
                continue
            damaged = sorted(doc.get("damaged") or {})
            summary = (
                f"repository {repo.name}: {len(damaged)} damaged object(s): {', '.join(damaged[:3])}"
                if damaged
                else f"repository {repo.name}: read back {doc.get('checked', 0)} of {doc.get('objects', 0)} objects, all intact"
            )
            status: Status = "failure" if damaged else "success"
            event = self._event("repository", status, summary, repository_name=repo.name, damaged=damaged)
            self.alerts.outcome(f"repository:{repo.name}", event)

    def _archiver_exited(self, code: int, reason: str, retry_in: float) -> None:
        self.alerts.outcome(
            "archiver",
            self._event(
                "archiver",
                "failure",
                f"the archiver exited (exit {code}): {reason}; restarting in {retry_in:g}s",
            ),
        )
        self._wake.set()

    def _archiver_gap(self, gap: Event) -> None:
        self.alerts.outcome(f"gap:{gap.details.get('start')}", gap)

    # -- checks --------------------------------------------------------------------

    def check_cycle(self) -> None:
        plan = self.plan
        facts = gather(
            plan,
            config.source_uri(None, plan),
            [(r.name, r.url, r.region) for r in plan.repository],
            None,
        )
        results = run_checks(facts)
        self._scan_incidents(facts)
        self.snapshot = Snapshot(
            datetime.now(UTC).isoformat(timespec="seconds"),
            facts,
            results,
            sorted(self._incidents.values(), key=lambda i: i["ts"]),
        )
        if facts.repo is not None and facts.deployment:
            data = {"status": overall(results), "checks": [r.to_json() for r in results]}
            put_record(
                facts.repo.storage,
                layout.check_result_key(facts.deployment),
                {**data, "time": facts.now.isoformat()},
            )
        if time.monotonic() - self.started < plan.agent.warmup:
            return  # the archiver and the first jobs are still starting: show, do not alert
        archiver_ok = self.supervisor.running
        for r in results:
            if r.id == "archiver" and r.status == "ok" and not archiver_ok:
                continue  # the supervisor reports its own exits
            self.alerts.outcome(
                f"check:{r.id}",
                self._event("check", _LEVEL[r.status], f"{r.id}: {r.finding}", check=r.id, hint=r.hint),
                news_when_ok=False,
            )

    def _scan_incidents(self, facts: Facts) -> None:
        """New destructive operations in the archive, for the timeline (from a minute before the
        last scan, so one that straddles two scans is whole)."""
        if facts.repo is None or facts.history is None or not facts.history.segments:
            return
        scanned_to = facts.history.segments[-1].end
        since = Timestamp(max(self._scanned_to.time - 60, 0), 0) if self._scanned_to else None
        try:
            found = scan_incidents(facts.repo, facts.history, since)
        except LifeboatError as e:
            log.warning("incident scan failed: %s", e.message)
            return
        for incident in found:
            self._incidents[incident.id] = {**incident.describe(), "ts_seconds": incident.ts.time}
        self._scanned_to = scanned_to

    # -- what the dashboard and the API show ---------------------------------------

    def _next_run(self, name: str) -> datetime | None:
        job = self.scheduler.get_job(name)
        return job.next_run_time if job is not None else None

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.snapshot is not None and not self._stop.is_set() else "starting",
            "archiver": self.supervisor.running,
            "checked_at": self.snapshot.time if self.snapshot else None,
            "plan_status": self.snapshot.status if self.snapshot else None,
        }

    def metrics(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        facts = self.snapshot.facts if self.snapshot else None
        registry = registry_for(self.repository, facts.deployment if facts else None)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def _archiver(self) -> dict[str, Any]:
        described = self.supervisor.describe()
        facts = self.snapshot.facts if self.snapshot else None
        state = facts.history.timeline.state if facts and facts.history else None
        position = (state or {}).get("position")
        lag = float((state or {}).get("lag_s") or 0) + float((state or {}).get("age_s") or 0)
        return {
            **described,
            "position": position,
            "position_wall": wall_of(parse_position(position)) if position else None,
            "lag_s": round(lag, 1) if state else None,
            "lag": f"{lag:.1f}s" if state else "-",
            "state": state,
        }

    def _repositories(self) -> list[dict[str, Any]]:
        facts = self.snapshot.facts if self.snapshot else None
        out = []
        for r in facts.repositories if facts else []:
            item = asdict(r)
            item["backups"] = sorted(r.backups)
            item["archived_to"] = wall_of(r.archived_to) if r.archived_to else None
            out.append(item)
        return out

    def _drills(self) -> list[DrillReport]:
        facts = self.snapshot.facts if self.snapshot else None
        return list(facts.drills) if facts else []

    def document(self, name: str) -> Any:
        facts = self.snapshot.facts if self.snapshot else None
        if name == "checks":
            results = self.snapshot.results if self.snapshot else []
            return {
                "status": overall(results) if results else "starting",
                "checks": [r.to_json() for r in results],
            }
        if name == "timeline":
            return timeline_document(facts.history) if facts and facts.history else None
        if name == "backups":
            return backups_document(facts.repo) if facts and facts.repo else None
        if name == "drills":
            return drill_rows(self._drills())
        if name == "repositories":
            return self._repositories()
        if name == "events":
            return list(self.alerts.recent)
        return {
            "deployment": self.deployment,
            "agent": {
                "started_at": self.started_at,
                "plan": str(self.plan_path),
                "checked_at": self.snapshot.time if self.snapshot else None,
            },
            "checks": self.document("checks"),
            "timeline": self.document("timeline"),
            "archiver": self._archiver(),
            "repositories": self._repositories(),
            "jobs": [j.describe(self._next_run(n)) for n, j in self.jobs.items()],
            "conditions": self.alerts.conditions(),
            "incidents": self.snapshot.incidents if self.snapshot else [],
            "drills": self.document("drills"),
            "events": self.document("events"),
        }

    def page(self) -> dict[str, Any]:
        facts = self.snapshot.facts if self.snapshot else None
        history = facts.history if facts else None
        spans: list[timeline_svg.Span] = []
        marks: list[timeline_svg.Mark] = []
        restorable = "nothing restorable yet: no base backup"
        if history is not None:
            t = history.timeline
            spans += [timeline_svg.Span(w.start.time, w.end.time, "restorable", "window") for w in t.windows]
            spans += [timeline_svg.Span(a.time, b.time, "gap: not restorable", "gap") for a, b in t.gaps]
            marks += [
                timeline_svg.Mark(m.end.time, f"base backup {m.backup_id}", "backup")
                for m in history.manifests
            ]
            marks += [
                timeline_svg.Mark(s.end.time, f"snapshot {s.snapshot_id} ({s.provider})", "backup")
                for s in history.snapshots
            ]
            main = t.main
            if main is not None:
                restorable = (
                    f"You can restore to any second from {wall_of(main.start)} to {wall_of(main.end)}"
                )
                for w in t.ahead:
                    restorable += (
                        f"; and to base backup {', '.join(w.backups)} at {wall_of(w.end)}, which the "
                        "archiver has not reached yet"
                    )
                earlier = len([w for w in t.windows if w.end <= main.start])
                if earlier:
                    restorable += f" (and {earlier} earlier window(s); {len(t.gaps)} gap(s) between)"
            else:
                restorable = t.verdict()
        for i in self.snapshot.incidents if self.snapshot else []:
            marks.append(
                timeline_svg.Mark(
                    i["ts_seconds"], f"{i['kind']} {i['ns']} ({i['count']}) {i['id']}", "incident"
                )
            )
        drills = self._drills()
        for d in drills:
            marks.append(
                timeline_svg.Mark(
                    parse_position(d.target_ts).time, f"drill {d.id}: {d.verdict}", f"drill-{d.verdict}"
                )
            )
        checks = [r.to_json() for r in self.snapshot.results] if self.snapshot else []
        backups = backups_document(facts.repo)["backups"] if facts and facts.repo else []
        return {
            "deployment": self.deployment,
            "status": self.snapshot.status if self.snapshot else "starting",
            "checked_at": self.snapshot.time if self.snapshot else None,
            "started_at": self.started_at,
            "plan_path": self.plan_path,
            "refresh_s": max(5, min(60, int(self.plan.agent.check_interval))),
            "restorable": restorable,
            "timeline_svg": timeline_svg.render(spans, marks, time.time()),
            "checks": checks,
            "archiver": self._archiver(),
            "repositories": self._repositories(),
            "backups": list(reversed(backups))[:20],
            "drills": [_drill_view(d) for d in reversed(drills)][:20],
            "drill_trend_svg": timeline_svg.trend([d.recovery_s for d in drills], self.plan.objectives.rto),
            "jobs": [j.describe(self._next_run(n)) for n, j in self.jobs.items()],
            "events": list(reversed(self.alerts.recent))[:30],
        }


def _drill_view(d: DrillReport) -> dict[str, Any]:
    total = sum(d.phases.values()) or 1.0
    return {
        "id": d.id,
        "verdict": d.verdict,
        "recovery_s": d.recovery_s,
        "margin": d.margin,
        "phase_bars": [
            {"name": name, "seconds": s, "percent": round(100 * s / total, 1)} for name, s in d.phases.items()
        ],
        "phase_title": redact(", ".join(f"{k} {v:.1f}s" for k, v in d.phases.items())),
    }
