"""Everything ``lifeboat check`` judges, gathered once: the plan, each repository, the source,
the archive, the drills, the last alert delivery. Gathering never raises: what cannot be
read is recorded as such (and judged by the checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from pymongo.errors import PyMongoError

from ..catalog.history import History, load_history
from ..config import Plan, cron_interval, repository_settings, timeout_ms
from ..drill import fingerprint
from ..drill import report as drills
from ..drill.fingerprint import Fingerprint
from ..drill.report import DrillReport
from ..errors import LifeboatError
from ..mongo import members
from ..mongo.capabilities import write_lock_problem
from ..mongo.client import connect
from ..notify import last_delivery
from ..oplog.capture.sources import resolve
from ..oplog.capture.window import HistoryWindow
from ..oplog.segments import list_segments
from ..repo.damage import all_damaged
from ..repo.mirror import Member
from ..repo.repository import Repository
from ..secrets import redact
from ..verify.sampling import last_sample


@dataclass
class RepositoryFact:
    name: str
    url: str  # redacted
    region: str | None
    error: str | None = None  # None: reachable and writable now
    backups: set[str] = field(default_factory=set)  # complete base backups it holds
    encrypted: bool | None = None  # None: not known (unreachable)
    archived_to: Timestamp | None = None  # the end of the oplog archive it holds
    damaged: dict[str, str] = field(default_factory=dict)  # damaged objects known: key -> problem
    sampled: dict[str, Any] | None = None  # the last background read-back (verify.sampling)


@dataclass
class Facts:
    plan: Plan
    now: datetime
    repositories: list[RepositoryFact] = field(default_factory=list)
    repo: Repository | None = None  # the first reachable one: the archive's facts come from it
    history: History | None = None
    history_error: str | None = None
    source_error: str | None = None
    write_lock_problem: str | None = None  # why the plan's fsync-lock snapshots cannot work here
    member: members.Member | None = None
    members: list[members.Member] = field(default_factory=list)
    oplog: HistoryWindow | None = None
    # Where history is captured from ([deployment] capture, "auto" resolved): from a change
    # stream, ``oplog`` is the stream's history window (measured by the oplog where it may be read).
    capture: str = "oplog"
    backup_interval_s: float | None = None
    drills: list[DrillReport] = field(default_factory=list)
    delivery: dict[str, Any] | None = None
    fingerprint: Fingerprint | None = None  # the setup now, to compare with what a drill proved

    @property
    def deployment(self) -> str | None:
        return self.history.deployment if self.history else None


def _message(e: BaseException) -> str:
    return redact(getattr(e, "message", None) or str(e))


def _repository(
    plan: Plan, url: str, name: str, region: str | None
) -> tuple[RepositoryFact, Repository | None]:
    fact = RepositoryFact(name, redact(url), region)
    try:
        repo = Repository.open(url, repository_settings(url, plan))
        repo.check_writable()
        fact.backups = {b.backup_id for b in repo.list_backups() if b.complete}
        fact.encrypted = "encryption" in repo.info
        fact.damaged = all_damaged(repo)
        fact.sampled = last_sample(repo.storage)
        return fact, repo
    except (LifeboatError, OSError) as e:
        fact.error = _message(e)
        return fact, None


def _source(facts: Facts, uri: str, plan_parts: dict[str, str] | None) -> None:
    plan = facts.plan
    try:
        client = connect(uri, role="source", timeout_ms=timeout_ms(plan))
    except LifeboatError as e:
        facts.source_error = _message(e)
        return
    try:
        facts.members = members.discover(client)
        facts.member = members.choose(facts.members, plan.deployment.member)
        chosen = members.member_client(uri, facts.member.host, serverSelectionTimeoutMS=timeout_ms(plan))
        try:
            source = resolve(plan.deployment.capture, chosen)
            facts.capture = source.name
            facts.oplog = source.window(chosen, facts.now)
            if plan.snapshot.configured and plan.snapshot.consistency == "fsync-lock":
                facts.write_lock_problem = write_lock_problem(chosen)
        finally:
            chosen.close()
        facts.fingerprint = fingerprint.take(plan_parts, client)
    except (LifeboatError, PyMongoError, StopIteration) as e:
        facts.source_error = (
            _message(e) if not isinstance(e, StopIteration) else "the source's oplog is empty"
        )
    finally:
        client.close()


def gather_facts(
    plan: Plan,
    source_uri: str | None,
    repo_urls: list[tuple[str, str, str | None]],
    deployment: str | None,
    plan_file: bool = True,
) -> Facts:
    """``repo_urls``: (name, url, region) of every repository the plan names (or the one given);
    ``plan_file``: whether the plan came from a file (else its parts are not compared with the
    plan a drill proved)."""
    facts = Facts(plan, datetime.now(UTC))
    opened: list[tuple[RepositoryFact, Repository]] = []
    for name, url, region in repo_urls:
        fact, repo = _repository(plan, url, name, region)
        facts.repositories.append(fact)
        if repo is not None:
            opened.append((fact, repo))
    if opened:
        # What can be restored is what the repositories hold together (restores fall back from
        # one to the next), so the history is read from all of them as one.
        facts.repo = Repository.mirrored([Member(f.name, r.storage) for f, r in opened], opened[0][1].info)
        try:
            facts.history = load_history(facts.repo, deployment)
            facts.drills = drills.history(facts.repo.storage, facts.history.deployment)
            facts.delivery = last_delivery(facts.repo.storage, facts.history.deployment)
            for fact, repo in opened:
                held = [*facts.history.segments, *facts.history.damaged] if len(opened) == 1 else None
                if held is None:
                    held = list_segments(repo.storage, facts.history.deployment)
                fact.archived_to = max((s.end for s in held), default=None)
        except LifeboatError as e:
            facts.history_error = _message(e)
    if source_uri:
        _source(facts, source_uri, fingerprint.of_plan(plan) if plan_file else None)
    else:
        facts.source_error = "no source URI in the plan ([deployment] source) or the environment"
    if plan.schedule.base_backup:
        facts.backup_interval_s = cron_interval(plan.schedule.base_backup, facts.now)
    return facts
