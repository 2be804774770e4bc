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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from bson import Timestamp

from .. import config
from ..audit.checks import overall, run_checks
from ..audit.facts import Facts, gather_facts
from ..audit.result import Result
from ..catalog.dropped import incident_document
from ..catalog.history import scan_incidents
from ..drill import report as drill_reports
from ..drill.fingerprint import described
from ..errors import LifeboatError
from ..events import Event, Status
from ..repo import layout
from ..repo.records import put_record
from ..repo.repository import Repository
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import sinks_for
from ..timestamps import parse_iso
from ..verify.sampling import last_sample
from .alerts import Alerts
from .drift import ChangeDrills
from .jobs import Jobs
from .mounts import MountStarter
from .remedies import agent_words, with_remedy
from .schedule import CronTrigger, due_at_start
from .supervisor import ArchiverSupervisor
from .views import Cycle

log = logging.getLogger(__name__)

_DETECTION_FIELDS = ("incident_kind", "ns", "count", "ts", "wall", "incident_id")
_DETECTIONS_KEPT = 500
_LEVEL: dict[str, Status] = {"ok": "success", "warning": "warning", "critical": "failure"}


class Agent:
    def __init__(self, ctx: Session, plan_path: Path) -> None:
        self.ctx = ctx
        self.plan_path = plan_path
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.started = time.monotonic()
        self.repository: Repository = open_repository(ctx, None, every=True)
        self.alerts = Alerts(sinks_for(ctx, self.repository, None), self.plan.agent.repeat)
        self.jobs = Jobs(self)
        self.cycle: Cycle | None = None
        self.mounts = MountStarter(plan_path, self.plan.deployment.key, self.plan.agent.mount_ttl)
        self._incidents: dict[str, dict[str, Any]] = {}
        self._change_drills = ChangeDrills()
        self.detections: dict[str, dict[str, Any]] = {}  # what the archiver saw live, by key
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
            on_incident=self._archiver_incident,
        )

    @property
    def plan(self) -> config.Plan:
        return self.ctx.plan

    @property
    def deployment(self) -> str:
        if self.plan.deployment.name:
            return self.plan.deployment.name
        facts = self.cycle.facts if self.cycle else None
        return (facts.deployment if facts else None) or "?"

    def event(self, kind: str, status: Status, summary: str, **details: Any) -> Event:
        return Event(kind, status, self.deployment, self.repository.url, summary, details)

    def stopping(self) -> bool:
        return self._stop.is_set()

    def job_done(self) -> None:
        self._wake.set()

    # -- running -------------------------------------------------------------------

    def run(self, on_ready: Any = None) -> None:
        """Until SIGTERM/SIGINT (or ``stop()``)."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        self.jobs.cleanup_incomplete()
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
                    self.alerts.outcome("agent", self.event("agent", "failure", f"check cycle failed: {e}"))
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
        self.jobs.stop(self.plan.agent.stop_grace, self._stop.wait)
        self.supervisor.stop()
        self.jobs.reap()

    def _last_run(self, job: str) -> datetime | None:
        """When the job last ran, from the repository (the agent keeps no state of its own)."""
        try:
            complete = self.jobs.complete_backups()
            if job == "backup":
                return parse_iso(complete[-1].started_at) if complete else None
            if job == "compact":
                return None  # cheap when there is nothing to merge: once at start, then on schedule
            if job == "sample":
                last = last_sample(self.repository.storage)
                return parse_iso(last["at"]) if last else None
            past = drill_reports.history(self.repository.storage, complete[-1].deployment) if complete else []
            return parse_iso(past[-1].started_at) if past else None
        except (LifeboatError, OSError, ValueError):
            return None

    def _schedule(self, at_start: bool) -> None:
        now = datetime.now(UTC)
        for name, expr, fn in (
            ("backup", self.plan.schedule.base_backup, self.jobs.backup),
            ("drill", self.plan.schedule.drill, self.jobs.drill),
            ("sample", self.plan.sampling.schedule, self.jobs.sample),
            ("compact", self.plan.archiver.compact_schedule, self.jobs.compact),
        ):
            self.jobs.states[name].schedule = expr
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
                self.event("plan", "failure", f"the plan did not reload; the old one stays: {e.message}"),
            )
            return
        self.ctx.plan = plan
        self.alerts.repeat_s = plan.agent.repeat
        self._schedule(at_start=False)
        self.supervisor.segment_seconds = plan.agent.segment_seconds
        self.supervisor.restart()  # the archiver picks up the new source and repositories
        self.alerts.outcome("plan", self.event("plan", "success", f"plan {self.plan_path} reloaded"))

    # -- the archiver ---------------------------------------------------------------

    def _archiver_exited(self, code: int, reason: str, retry_in: float) -> None:
        self.alerts.outcome(
            "archiver",
            self.event(
                "archiver",
                "failure",
                f"the archiver exited (exit {code}): {reason}; restarting in {retry_in:g}s",
            ),
        )
        self._wake.set()

    def _archiver_gap(self, gap: Event) -> None:
        self.alerts.outcome(f"gap:{gap.details.get('start')}", gap)

    def _archiver_incident(self, incident: Event) -> None:
        """Each detection is news of its own, its remedy in the agent's words."""
        details = incident.details
        worded = with_remedy(replace(incident, summary=str(details.get("what") or incident.summary)))
        key = (
            details.get("incident_id")
            or f"{details.get('incident_kind')}:{details.get('ns')}:{details.get('ts')}"
        )
        self.alerts.outcome(f"incident:{key}", worded)
        self.detections[str(key)] = {k: details.get(k) for k in _DETECTION_FIELDS}
        while len(self.detections) > _DETECTIONS_KEPT:  # the oldest go (the repository keeps each)
            del self.detections[next(iter(self.detections))]

    # -- checks --------------------------------------------------------------------

    def check_cycle(self) -> None:
        plan = self.plan
        facts = gather_facts(
            plan,
            config.source_uri(None, plan),
            [(r.name, r.url, r.region) for r in plan.repository],
            None,
        )
        results = run_checks(facts)
        self._scan_incidents(facts)
        self.cycle = Cycle.read(
            datetime.now(UTC).isoformat(timespec="seconds"),
            facts,
            results,
            sorted(self._incidents.values(), key=lambda i: i["ts"]),
            self.repository,
        )
        if facts.repo is not None and facts.deployment:
            data = {"status": overall(results), "checks": [r.to_json(agent_words) for r in results]}
            put_record(
                facts.repo.storage,
                layout.check_result_key(facts.deployment),
                {**data, "time": facts.now.isoformat()},
            )
        self._drill_if_changed(results)
        if time.monotonic() - self.started < plan.agent.warmup:
            return  # the archiver and the first jobs are still starting: show, do not alert
        archiver_ok = self.supervisor.running
        for r in results:
            if r.id == "archiver" and r.status == "ok" and not archiver_ok:
                continue  # the supervisor reports its own exits
            self.alerts.outcome(
                f"check:{r.id}",
                self.event(
                    "check",
                    _LEVEL[r.status],
                    f"{r.id}: {r.finding}",
                    check=r.id,
                    hint=r.worded_hint(agent_words),
                ),
                news_when_ok=False,
            )

    def _drill_if_changed(self, results: list[Result]) -> None:
        drill_age = next((r for r in results if r.id == "drill-age"), None)
        running = self.jobs.states["drill"].running is not None
        changed = self._change_drills.due(drill_age, self.plan.drill.after_change, running)
        if changed is None:
            return
        log.warning("the setup changed since the last passing drill (%s): drilling now", described(changed))
        self.scheduler.add_job(self.jobs.drill, id="drill-after-change", name="drill", replace_existing=True)

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
            described = incident_document(facts.repo.storage, facts.history, incident)
            self._incidents[incident.id] = {**described, "ts_seconds": incident.ts.time}
        self._scanned_to = scanned_to

    def next_run(self, name: str) -> datetime | None:
        job = self.scheduler.get_job(name)
        return job.next_run_time if job is not None else None
