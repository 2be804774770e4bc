"""The ``repository`` check: damage known in a repository, and whether the background
read-back that finds it runs."""

from __future__ import annotations

from ..config import cron_interval
from ..config import format_duration as fmt
from ..remedies import Remedy
from .facts import Facts
from .result import Result, since


def check_repository(f: Facts) -> Result:
    """Damage found in a repository (by verify, a restore, or the agent's daily read-back),
    and whether that read-back runs: silent damage must be found before a restore needs it."""
    reachable = [r for r in f.repositories if r.error is None]
    damaged = [r for r in reachable if r.damaged]
    if damaged:
        r = damaged[0]
        key, problem = next(iter(r.damaged.items()))
        others = [o.name for o in reachable if o is not r]
        n = sum(len(d.damaged) for d in damaged)
        return Result(
            "repository",
            "critical",
            f"{n} damaged object(s) in {', '.join(d.name for d in damaged)}: {key}: {problem}",
            "{do}"
            if others
            else "restore from another backup; take a new one (a second repository could repair it)",
            value={d.name: sorted(d.damaged) for d in damaged},
            remedy=Remedy("repair", {"source": others[0], "repo": r.name}) if others else None,
        )
    if not f.plan.sampling.schedule:
        return Result(
            "repository",
            "warning",
            "no background read-back: damage is found only when a restore needs the object",
            'set [sampling] schedule (e.g. "30 4 * * *"); the agent runs it',
        )
    overdue = max(2 * 86400.0, 2 * cron_interval(f.plan.sampling.schedule, f.now))
    oldest = f.history.manifests[0].finished_at if f.history and f.history.manifests else None
    stale = []
    for r in reachable:
        last = (r.sampled or {}).get("at") or (oldest if oldest and since(f, oldest) > overdue else None)
        if last is not None and since(f, last) > overdue:
            stale.append((r.name, "never" if not r.sampled else f"{fmt(since(f, last))} ago"))
    if stale:
        name, when = stale[0]
        return Result(
            "repository",
            "warning",
            f"repository {name} last read back {when}: damage there would go unseen",
            "run the agent (it reads a share back on [sampling] schedule), or: {do}",
            value=[s[0] for s in stale],
            remedy=Remedy("verify-sample", {"repo": name}),
        )
    return Result(
        "repository",
        "ok",
        f"no damaged object known in {len(reachable)} repositories; read back on {f.plan.sampling.schedule}",
        value=[r.name for r in reachable],
    )
