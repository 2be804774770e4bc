"""The agent's jobs: base backups (then cleanup and prune), drills and the repositories' daily
read-back, each a ``lifeboat`` child process (``children``). What a job did reaches the alerts
as the outcome the child reported on its events pipe; the agent words only what no child
reports (a crash, a prune, a read-back)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from .. import config
from ..child_documents import CompactDocument, PruneDocument, SampleDocument
from ..events import Event, Status
from ..repo.manifest import Manifest
from ..repo.repository import Repository
from .alerts import Alerts
from .children import JobResult, Running, command
from .remedies import with_remedy

log = logging.getLogger(__name__)


class JobHost(Protocol):
    """What the jobs need of the agent that runs them."""

    plan_path: Path
    alerts: Alerts
    repository: Repository

    @property
    def plan(self) -> config.Plan: ...

    @property
    def deployment(self) -> str: ...

    def event(self, kind: str, status: Status, summary: str, **details: Any) -> Event: ...

    def stopping(self) -> bool: ...

    def job_done(self) -> None: ...


@dataclass
class JobState:
    name: str
    schedule: str | None = None
    running: Running | None = None
    last: JobResult | None = None
    runs: int = 0
    # What the job's runs have done since the agent started (compact: segments merged away).
    done: dict[str, int] = field(default_factory=dict)

    def describe(self, next_run: datetime | None) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "next": next_run.isoformat(timespec="seconds") if next_run else None,
            "running": self.running is not None,
            "phase": self.running.phase if self.running is not None else None,
            "runs": self.runs,
            "done": dict(self.done),
            "last": self.last.to_json() if self.last else None,
        }


class Jobs:
    def __init__(self, host: JobHost) -> None:
        self.host = host
        plan = host.plan
        self.states = {
            "backup": JobState("backup", plan.schedule.base_backup),
            "drill": JobState("drill", plan.schedule.drill),
            "prune": JobState("prune"),
            "sample": JobState("sample", plan.sampling.schedule),
            "compact": JobState("compact", plan.archiver.compact_schedule),
        }
        # Prune and compaction both delete archived segments under the deployment's prune lease:
        # the agent runs them one after the other rather than have one refused.
        self._edits = threading.Lock()

    def complete_backups(self) -> list[Manifest]:
        return [b.manifest for b in self.host.repository.list_backups() if b.manifest is not None]

    def cleanup_incomplete(self) -> None:
        """Backups left incomplete by a killed run (never a running one: their lease is live)."""
        result = Running(command(self.host.plan_path, "cleanup", "--json")).wait()
        if not result.ok:
            log.warning("cleanup of incomplete backups failed: %s", result.error)

    def _run(self, name: str, *args: str) -> JobResult:
        job = self.states[name]
        job.running = Running(command(self.host.plan_path, *args, "--json"))
        try:
            result = job.running.wait()
        finally:
            job.running = None
        job.last, job.runs = result, job.runs + 1
        self.host.job_done()  # check after every job
        return result

    def _reported(self, kind: str, result: JobResult) -> Event:
        """The outcome the child reported on its events pipe, worded where it happened; a child
        that reported none (it crashed, or was killed) is a failure with its exit code."""
        reported = result.outcome(kind)
        if reported is None:
            return self._failed(kind, result)
        if reported.deployment == "?":  # a child that failed before it learned the deployment's name
            reported = replace(reported, deployment=self.host.deployment)
        return with_remedy(reported) if reported.status == "failure" else reported

    def _failed(self, kind: str, result: JobResult, read: object = None) -> Event:
        """A child that failed, or whose document could not be ``read`` (why, as a string)."""
        unreadable = read if isinstance(read, str) and result.ok else None
        why = result.error or unreadable or "see the agent log"
        return self.host.event(
            kind, "failure", f"{kind} failed (exit {result.exit_code}): {why}", exit_code=result.exit_code
        )

    def backup(self) -> None:
        if self.host.stopping():
            return
        result = self._run("backup", "backup")
        self.host.alerts.outcome("backup", self._reported("backup", result))
        if not result.ok:
            return
        self.cleanup_incomplete()
        self.prune()

    def prune(self) -> None:
        with self._edits:
            self._prune()

    def _prune(self) -> None:
        for repo in self.host.plan.repository:
            if not (repo.keep_last or repo.keep_daily or repo.keep_weekly or repo.recovery_window):
                continue
            result = self._run("prune", "prune", "--repo", repo.url)
            doc = PruneDocument.read(result.document)
            if not result.ok or isinstance(doc, str):
                self.host.alerts.outcome(f"prune:{repo.name}", self._failed("prune", result, doc))
                continue
            deleted = [b.backup_id for b in doc.deleted_backups]
            self.host.alerts.outcome(
                f"prune:{repo.name}",
                self.host.event(
                    "prune",
                    "success",
                    f"pruned {repo.name}: {len(deleted)} backup(s), {doc.deleted_segments} segment(s), "
                    f"{doc.bytes_freed} bytes freed",
                    repository_name=repo.name,
                    deleted_backups=deleted,
                ),
            )

    def compact(self) -> None:
        """Merge aged archived segments in every repository (``lifeboat compact`` walks them)."""
        if self.host.stopping():
            return
        with self._edits:
            result = self._run("compact", "compact")
        doc = CompactDocument.read(result.document)
        if not result.ok or isinstance(doc, str):
            self.host.alerts.outcome("compact", self._failed("compact", result, doc))
            return
        done = doc.repositories
        merged = sum(r.replaced for r in done)
        into = sum(r.merged for r in done)
        tally = self.states["compact"].done
        tally["segments_merged"] = tally.get("segments_merged", 0) + merged
        self.host.alerts.outcome(
            "compact",
            self.host.event(
                "compact",
                "success",
                f"compacted {len(done)} archive(s): {merged} segment(s) merged into {into}",
                merged=merged,
                into=into,
            ),
            news_when_ok=False,  # every quarter hour: only a failure (and its recovery) is news
        )

    def drill(self) -> None:
        if self.host.stopping():
            return
        if not self.complete_backups():
            log.info("drill skipped: no complete base backup yet (the last-backup check says so)")
            return
        result = self._run("drill", "drill")
        self.host.alerts.outcome("drill", self._reported("drill", result))

    def sample(self) -> None:
        """Each repository's daily read-back (``verify --sample``): damage it finds is a
        ``repository`` failure naming the objects (and the check stays critical until repaired)."""
        for repo in self.host.plan.repository:
            if self.host.stopping():
                return
            result = self._run("sample", "verify", "--sample", "--repo", repo.url)
            doc = SampleDocument.read(result.document)
            if isinstance(doc, str):  # (a run that found damage exits non-zero with its document)
                self.host.alerts.outcome(f"repository:{repo.name}", self._failed("repository", result, doc))
                continue
            damaged = sorted(doc.damaged)
            summary = (
                f"repository {repo.name}: {len(damaged)} damaged object(s): {', '.join(damaged[:3])}"
                if damaged
                else f"repository {repo.name}: read back {doc.checked} of {doc.objects} objects, all intact"
            )
            status: Status = "failure" if damaged else "success"
            event = self.host.event("repository", status, summary, repository_name=repo.name, damaged=damaged)
            self.host.alerts.outcome(f"repository:{repo.name}", event)

    def stop(self, grace_s: float, wait: Callable[[float], Any]) -> None:
        """A running backup or drill may finish within ``grace_s``; then it is stopped (it stays
        incomplete, removed at the next start). ``wait(seconds)`` sleeps, or returns early."""
        deadline = time.monotonic() + grace_s
        for job in self.states.values():
            while job.running is not None and time.monotonic() < deadline:
                wait(0.2)
            if job.running is not None:
                job.running.terminate()

    def reap(self) -> None:
        for job in self.states.values():
            running = job.running
            if running is not None:
                try:
                    running.wait(30)
                except Exception:
                    running.kill()
