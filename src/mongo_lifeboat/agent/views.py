"""What the dashboard and the API show: built from the last check cycle (``Cycle``), which
read the repository in the agent's own thread. The web handlers only format what is cached
here and what the agent holds in memory (jobs, the archiver, alerts): they never touch the
repository, so a slow bucket never stalls the event loop."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..audit.checks import Result, overall
from ..audit.facts import Facts
from ..drill.report import DrillReport
from ..json_documents import backups_document, drill_rows, timeline_document
from ..repo.repository import Repository
from ..secrets import redact
from ..timestamps import parse_position, wall_of
from . import timeline_svg
from .remedies import agent_words

if TYPE_CHECKING:
    from .service import Agent

DOCUMENTS = ("status", "checks", "timeline", "backups", "drills", "repositories", "events")


@dataclass
class Cycle:
    """What the last check cycle saw, with the repository's documents read then."""

    time: str
    facts: Facts
    results: list[Result]
    incidents: list[dict[str, Any]] = field(default_factory=list)
    backups: dict[str, Any] | None = None  # ``lifeboat list --json``
    timeline: dict[str, Any] | None = None  # ``lifeboat timeline --json``
    metrics: bytes = b""  # the Prometheus exposition

    @property
    def status(self) -> str:
        return overall(self.results)

    @classmethod
    def read(
        cls,
        at: str,
        facts: Facts,
        results: list[Result],
        incidents: list[dict[str, Any]],
        repository: Repository,
    ) -> Cycle:
        """Reads the repositories (call it off the event loop); ``repository``: all of them as
        one, whose objects the metrics count."""
        from prometheus_client import generate_latest

        from ..metrics import registry_for

        cycle = cls(at, facts, results, incidents)
        if facts.repo is not None:
            cycle.backups = backups_document(facts.repo)
        cycle.metrics = generate_latest(registry_for(repository, facts.deployment))
        if facts.history is not None:
            cycle.timeline = timeline_document(facts.history)
        return cycle


def health(agent: Agent) -> dict[str, Any]:
    cycle = agent.cycle
    return {
        "status": "ok" if cycle is not None and not agent.stopping() else "starting",
        "archiver": agent.supervisor.running,
        "checked_at": cycle.time if cycle else None,
        "plan_status": cycle.status if cycle else None,
    }


def metrics(agent: Agent) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST

    return (agent.cycle.metrics if agent.cycle else b""), CONTENT_TYPE_LATEST


def _archiver(agent: Agent) -> dict[str, Any]:
    described = agent.supervisor.describe()
    facts = agent.cycle.facts if agent.cycle else None
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


def _repositories(agent: Agent) -> list[dict[str, Any]]:
    facts = agent.cycle.facts if agent.cycle else None
    out = []
    for r in facts.repositories if facts else []:
        item = asdict(r)
        item["backups"] = sorted(r.backups)
        item["archived_to"] = wall_of(r.archived_to) if r.archived_to else None
        out.append(item)
    return out


def _drills(agent: Agent) -> list[DrillReport]:
    facts = agent.cycle.facts if agent.cycle else None
    return list(facts.drills) if facts else []


def _jobs(agent: Agent) -> list[dict[str, Any]]:
    return [j.describe(agent.next_run(n)) for n, j in agent.jobs.states.items()]


def document(agent: Agent, name: str) -> Any:
    cycle = agent.cycle
    if name == "checks":
        results = cycle.results if cycle else []
        return {
            "status": overall(results) if results else "starting",
            "checks": [r.to_json(agent_words) for r in results],
        }
    if name == "timeline":
        return cycle.timeline if cycle else None
    if name == "backups":
        return cycle.backups if cycle else None
    if name == "drills":
        return drill_rows(_drills(agent))
    if name == "repositories":
        return _repositories(agent)
    if name == "events":
        return list(agent.alerts.recent)
    return {
        "deployment": agent.deployment,
        "agent": {
            "started_at": agent.started_at,
            "plan": str(agent.plan_path),
            "checked_at": cycle.time if cycle else None,
        },
        "checks": document(agent, "checks"),
        "timeline": document(agent, "timeline"),
        "archiver": _archiver(agent),
        "repositories": _repositories(agent),
        "jobs": _jobs(agent),
        "conditions": agent.alerts.conditions(),
        "incidents": cycle.incidents if cycle else [],
        "detections": list(agent.detections.values()),
        "drills": document(agent, "drills"),
        "events": document(agent, "events"),
    }


def _restorable(agent: Agent) -> str:
    facts = agent.cycle.facts if agent.cycle else None
    history = facts.history if facts else None
    if history is None:
        return "nothing restorable yet: no base backup"
    t = history.timeline
    main = t.main
    if main is None:
        return t.verdict()
    restorable = f"You can restore to any second from {wall_of(main.start)} to {wall_of(main.end)}"
    for w in t.ahead:
        restorable += (
            f"; and to base backup {', '.join(w.backups)} at {wall_of(w.end)}, which the archiver has not "
            "reached yet"
        )
    earlier = len([w for w in t.windows if w.end <= main.start])
    if earlier:
        restorable += f" (and {earlier} earlier window(s); {len(t.gaps)} gap(s) between)"
    for b in t.damaged_bases:
        restorable += (
            f". Base backup {b['backup_id']} is damaged ({b['problem']}): no window rests on it; repair it "
            "from another repository, or take a new backup"
        )
    return restorable


def _timeline_svg(agent: Agent, drills: list[DrillReport]) -> str:
    cycle = agent.cycle
    history = cycle.facts.history if cycle else None
    spans: list[timeline_svg.Span] = []
    marks: list[timeline_svg.Mark] = []
    if history is not None:
        t = history.timeline
        spans += [timeline_svg.Span(w.start.time, w.end.time, "restorable", "window") for w in t.windows]
        spans += [timeline_svg.Span(a.time, b.time, "gap: not restorable", "gap") for a, b in t.gaps]
        marks += [
            timeline_svg.Mark(m.end.time, f"base backup {m.backup_id}", "backup") for m in history.manifests
        ]
        marks += [
            timeline_svg.Mark(s.end.time, f"snapshot {s.snapshot_id} ({s.provider})", "backup")
            for s in history.snapshots
        ]
    scanned = [*cycle.incidents] if cycle else []
    for i in scanned:
        marks.append(
            timeline_svg.Mark(i["ts_seconds"], f"{i['kind']} {i['ns']} ({i['count']}) {i['id']}", "incident")
        )
    # What the archiver saw live and the archive scan has not (yet, or ever: spikes, ransom notes).
    seen = {i["id"] for i in scanned}
    for live in list(agent.detections.values()):
        if live.get("incident_id") not in seen and live.get("ts"):
            label = f"live: {live['incident_kind']} {live['ns']} ({live['count']}) {live.get('incident_id') or ''}"
            marks.append(timeline_svg.Mark(parse_position(str(live["ts"])).time, label.strip(), "incident"))
    for d in drills:
        marks.append(
            timeline_svg.Mark(
                parse_position(d.target_ts).time, f"drill {d.id}: {d.verdict}", f"drill-{d.verdict}"
            )
        )
    return timeline_svg.render(spans, marks, time.time())


def page(agent: Agent) -> dict[str, Any]:
    cycle = agent.cycle
    drills = _drills(agent)
    checks = [r.to_json(agent_words) for r in cycle.results] if cycle else []
    backups = cycle.backups["backups"] if cycle and cycle.backups else []
    return {
        "deployment": agent.deployment,
        "status": cycle.status if cycle else "starting",
        "checked_at": cycle.time if cycle else None,
        "started_at": agent.started_at,
        "plan_path": agent.plan_path,
        "refresh_s": max(5, min(60, int(agent.plan.agent.check_interval))),
        "restorable": _restorable(agent),
        "timeline_svg": _timeline_svg(agent, drills),
        "checks": checks,
        "archiver": _archiver(agent),
        "repositories": _repositories(agent),
        "backups": list(reversed(backups))[:20],
        "drills": [_drill_view(d) for d in reversed(drills)][:20],
        "drill_trend_svg": timeline_svg.trend([d.recovery_s for d in drills], agent.plan.objectives.rto),
        "jobs": _jobs(agent),
        "events": list(reversed(agent.alerts.recent))[:30],
        # Open conditions stay on the page until resolved, however many events came after.
        "open_problems": [{"condition": k, **v} for k, v in sorted(agent.alerts.conditions().items())],
        "mounts": agent.mounts.view() if agent.plan.agent.mounts else None,
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


class Views:
    """The dashboard's and the API's view of one agent (what ``web`` serves)."""

    DOCUMENTS = DOCUMENTS

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def page(self) -> dict[str, Any]:
        return page(self.agent)

    def document(self, name: str) -> Any:
        return document(self.agent, name)

    def metrics(self) -> tuple[bytes, str]:
        return metrics(self.agent)

    def health(self) -> dict[str, Any]:
        return health(self.agent)

    def mounts_enabled(self) -> bool:
        return bool(self.agent.plan.agent.mounts)

    def start_mount(self, to: str, namespaces: tuple[str, ...]) -> None:
        self.agent.mounts.start(to, namespaces)

    def history(self, ns: str, doc_id: str) -> dict[str, Any]:
        """One document's history from the archive (``lifeboat history --archive-only``). The
        one view that reads the repository: the web serves it from a worker thread."""
        return document_history_view(self.agent.repository, self.agent.plan.deployment.key, ns, doc_id)


def document_history_view(
    repository: Repository, deployment: str | None, ns: str, doc_id: str
) -> dict[str, Any]:
    """``lifeboat history``'s document, or what was wrong with the question (with the hint)."""
    from ..catalog.history import load_history
    from ..errors import LifeboatError, NotFound
    from ..past.history import document_history, require_found
    from ..past.ids import parse_id

    try:
        wanted = parse_id(doc_id)
        past = load_history(repository, deployment)
        history = document_history(repository.storage, past, ns, wanted)
        require_found(history, past)
        found = history.describe()
    except LifeboatError as e:
        found = {"ns": ns, "id": doc_id, "error": e.message, "hint": e.worded_hint(agent_words)}
        found["status"] = 404 if e.exit_code == NotFound.exit_code else 400
    return {**found, "asked": {"ns": ns, "id": doc_id}}  # as typed, to show it again
