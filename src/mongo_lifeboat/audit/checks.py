"""The recovery plan audited against reality: one small function per check, over gathered facts.

Each returns ok / warning / critical with a one-line finding, a hint, and the value it judged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..config import format_duration as fmt
from ..remedies import Remedy
from ..timestamps import parse_iso
from .drill_checks import check_drill_age, check_drill_rto
from .facts import Facts, RepositoryFact
from .repository_check import check_repository
from .result import Level, Result, overall, since
from .safeguard_checks import (
    check_alerts,
    check_detection,
    check_encryption,
    check_secrets,
    check_snapshot_method,
)

__all__ = ["CHECKS", "Level", "Result", "overall", "run_checks"]

DEFAULT_INTERVAL_S = 86400.0  # a daily base backup, when the plan names no schedule
YOUNG_OPLOG_S = 60.0  # less history than this says nothing about the write rate


def check_owner(f: Facts) -> Result:
    owner = f.plan.owner
    if owner is None or not owner.name.strip() or not owner.contact.strip():
        return Result(
            "owner",
            "critical",
            "no owner: nobody is named to act when a backup fails",
            "add [owner] name and contact to the plan",
        )
    return Result("owner", "ok", f"{owner.name} <{owner.contact}>", value=owner.name)


def check_objectives(f: Facts) -> Result:
    o = f.plan.objectives
    if o.rpo is None or o.rto is None:
        missing = " and ".join(k for k, v in (("rpo", o.rpo), ("rto", o.rto)) if v is None)
        return Result(
            "objectives",
            "warning",
            f"{missing} not set: nothing to measure backups and drills against",
            'set [objectives] rpo and rto (e.g. rpo = "5m", rto = "30m")',
        )
    if o.rpo < 1 or o.rto < 10 or o.rpo > 7 * 86400 or o.rto > 7 * 86400:
        return Result(
            "objectives",
            "warning",
            f"RPO {fmt(o.rpo)} / RTO {fmt(o.rto)} look wrong (1s..7d, 10s..7d)",
            "check the units: 5m is five minutes",
            value={"rpo": o.rpo, "rto": o.rto},
        )
    return Result(
        "objectives", "ok", f"RPO {fmt(o.rpo)}, RTO {fmt(o.rto)}", value={"rpo": o.rpo, "rto": o.rto}
    )


def check_repositories(f: Facts) -> Result:
    if not f.repositories:
        return Result(
            "repositories", "critical", "no repository in the plan", "add a [[repository]] with a url"
        )
    bad = [r for r in f.repositories if r.error]
    if bad:
        first = bad[0]
        return Result(
            "repositories",
            "critical",
            f"{len(bad)} of {len(f.repositories)} not reachable and writable: {first.name} ({first.url}): {first.error}",
            "fix access to it (path, permissions, credentials), or remove it from the plan",
            value=[r.name for r in bad],
        )
    # A repository whose archive ends well before another's missed segments (it was down):
    # restores from it alone stop earlier. The archiver catches it up while it runs.
    ends = {r.name: r.archived_to for r in f.repositories if r.archived_to is not None}
    if len(ends) > 1:
        best = max(ends.values())
        ahead = next(name for name, end in ends.items() if end == best)
        allowed = f.plan.objectives.rpo or 300.0
        behind = {name: best.time - end.time for name, end in ends.items() if best.time - end.time > allowed}
        if behind:
            name, lag = max(behind.items(), key=lambda kv: kv[1])
            return Result(
                "repositories",
                "warning",
                f"repository {name}'s oplog archive ends {fmt(lag)} before {ahead}'s: it missed segments",
                "a running archiver catches it up; or now: {do}",
                value=[r.name for r in f.repositories],
                remedy=Remedy("copy", {"source": ahead, "target": name}),
            )
    return Result(
        "repositories",
        "ok",
        f"{len(f.repositories)} reachable and writable now",
        value=[r.name for r in f.repositories],
    )


def _places(repositories: list[RepositoryFact]) -> list[str]:
    """The distinct regions the repositories are in. Across providers a region is named with
    its provider (``s3:eu-west-1``, ``gs:europe-west1``): each provider is a place of its own,
    and one provider's outage is what a second provider survives."""
    named = [r for r in repositories if r.region]
    providers = {urlsplit(r.url).scheme or "file" for r in named}
    if len(providers) < 2:
        return sorted({r.region for r in named if r.region})
    return sorted({f"{urlsplit(r.url).scheme or 'file'}:{r.region}" for r in named})


def check_cross_region(f: Facts) -> Result:
    """Regions that actually hold the newest base backup (however it got there: Lifeboat, or the
    store's own replication), not just the regions the plan names."""
    newest = f.history.manifests[-1].backup_id if f.history and f.history.manifests else None
    holding = [r for r in f.repositories if newest is None or newest in r.backups]
    regions = _places(holding)
    if len(f.repositories) < 2:
        return Result(
            "cross-region",
            "critical",
            f"{len(f.repositories)} repository: one region's outage loses every backup",
            "add a second [[repository]] in another region",
            value=regions,
        )
    if len(holding) < 2:
        return Result(
            "cross-region",
            "critical",
            f"the newest backup {newest} is held by {len(holding)} of {len(f.repositories)} repositories "
            f"({', '.join(r.name for r in holding) or 'none'})",
            "copy it: {do} (a backup goes to every repository of the plan; one that was down missed it)",
            value=regions,
            remedy=Remedy("copy", {"source": holding[0].name if holding else "NAME", "target": "NAME"}),
        )
    if len(regions) < 2:
        return Result(
            "cross-region",
            "warning",
            f"{len(holding)} repositories hold the newest backup, in {len(regions) or 'no'} named region(s)",
            "put a copy in another region and set region on each repository",
            value=regions,
        )
    return Result(
        "cross-region",
        "ok",
        f"the newest backup is in {len(regions)} regions: {', '.join(regions)}",
        value=regions,
    )


def check_backup_member(f: Facts) -> Result:
    if f.member is None:
        return Result(
            "backup-member", "warning", f"cannot tell: {f.source_error}", "check [deployment] source"
        )
    m = f.member
    if m.hidden or m.state == "SECONDARY":
        kind = "hidden member" if m.hidden else "secondary"
        return Result("backup-member", "ok", f"backups read from {m.host} ({kind})", value=m.host)
    alone = " (the set's only data-bearing member)" if len(f.members) <= 1 else ""
    return Result(
        "backup-member",
        "warning",
        f"backups read from the primary {m.host}{alone}: they load it",
        'add a secondary (or hidden member) to back up from; member = "auto" prefers it',
        value=m.host,
    )


def check_oplog_window(f: Facts) -> Result:
    if f.capture == "change-stream" and f.source_error is None:
        return _stream_window(f)
    if f.oplog is None:
        return Result(
            "oplog-window",
            "critical",
            f"cannot measure the source's oplog: {f.source_error}",
            "check [deployment] source and the backup user's roles",
        )
    need, against = _window_needed(f)
    o = f.oplog
    value: dict[str, Any] = {"window_s": o.window_s, "needed_s": need, "entries": o.entries, "fill": o.fill}
    if o.window_s >= need:
        return Result("oplog-window", "ok", f"oplog window {fmt(o.window_s)} > {against}", value=value)
    full = o.window_when_full_s
    filling = o.fill is not None and o.fill < 1
    if filling and o.window_s < YOUNG_OPLOG_S:
        return Result(
            "oplog-window",
            "warning",
            f"the oplog is too young to judge: {fmt(o.window_s)} of history, {o.fill:.1%} full; "
            f"it must come to hold {fmt(need)} ({against})",
            "{do} once the source has been written to for a while",
            value=value,
            remedy=Remedy("check-again"),
        )
    if filling and full >= need:
        return Result(
            "oplog-window",
            "ok",
            f"oplog window {fmt(o.window_s)} so far, {o.fill:.0%} full: about {fmt(full)} when full, > {against}",
            value={**value, "window_when_full_s": full},
        )
    # At the write rate seen so far, the oplog must hold this many times what it holds when full.
    factor = need / max(full, 1.0)
    entries = math.ceil(o.entries / (o.fill or 1.0) * factor)
    size = ""
    if o.size_bytes:
        size = f" ({math.ceil(o.size_bytes / (o.fill or 1.0) * factor / 2**20)} MB at today's write rate)"
    value["entries_needed"] = entries
    return Result(
        "oplog-window",
        "critical",
        f"oplog window {fmt(full)}{' when full' if filling else ''} ({o.entries} entries) < {against}: "
        f"the oplog needs at least {entries} entries{size}",
        "grow the oplog (replSetResizeOplog) or back up more often",
        value=value,
    )


def _window_needed(f: Facts) -> tuple[float, str]:
    """(seconds of history the source must hold, what that is said against): a base-backup
    interval and a margin, so a stopped archiver can resume before the next base."""
    interval = f.backup_interval_s or DEFAULT_INTERVAL_S
    margin = max(300.0, interval * 0.25)
    return interval + margin, f"base-backup interval {fmt(interval)} + margin {fmt(margin)}"


def _stream_window(f: Facts) -> Result:
    """``oplog-window`` for a change-stream capture: how far back a resume works."""
    need, against = _window_needed(f)
    if f.oplog is None:
        return Result(
            "oplog-window",
            "warning",
            "the change stream shows no history yet to measure its window by",
            "{do} once the source has been written to",
            remedy=Remedy("check-again"),
        )
    window = f.oplog.window_s
    value: dict[str, Any] = {"window_s": window, "needed_s": need, "capture": "change-stream"}
    if window >= need:
        return Result(
            "oplog-window", "ok", f"change-stream history window {fmt(window)} > {against}", value=value
        )
    if window < YOUNG_OPLOG_S:
        return Result(
            "oplog-window",
            "warning",
            f"the change stream's history is too young to judge: {fmt(window)}; it must come to reach "
            f"back {fmt(need)} ({against})",
            "{do} once the source has been written to for a while",
            value=value,
            remedy=Remedy("check-again"),
        )
    return Result(
        "oplog-window",
        "critical",
        f"change-stream history window {fmt(window)} < {against}: a resume after a longer stop is a gap",
        "grow the oplog behind the stream (replSetResizeOplog; on Atlas, the oplog size setting) "
        "or back up more often",
        value=value,
    )


def check_archiver(f: Facts) -> Result:
    state = f.history.timeline.state if f.history else None
    rpo = f.plan.objectives.rpo
    if not state:
        return Result(
            "archiver",
            "critical",
            "no archiver has ever run: only base backups protect the data",
            "{do} for point-in-time recovery",
            remedy=Remedy("stream"),
        )
    if not state.get("running"):
        return Result(
            "archiver",
            "critical",
            f"STOPPED at {state.get('position')} ({fmt(float(state.get('age_s') or 0))} ago)",
            "{do} again",
            value=state,
            remedy=Remedy("stream"),
        )
    lag = float(state.get("lag_s") or 0) + float(state.get("age_s") or 0)
    if rpo is not None and lag > rpo:
        return Result(
            "archiver",
            "critical",
            f"running, but {fmt(lag)} behind: over the RPO of {fmt(rpo)}",
            "check the archiver's log and the repository's write speed",
            value={"lag_s": lag},
        )
    limit = f" (RPO {fmt(rpo)})" if rpo is not None else " (no RPO set)"
    return Result(
        "archiver",
        "ok" if rpo is not None else "warning",
        f"running, {fmt(lag)} behind{limit}",
        "" if rpo is not None else "set [objectives] rpo",
        value={"lag_s": lag},
    )


def check_last_backup(f: Facts) -> Result:
    """The newest base: a complete logical backup, or a recorded volume snapshot."""
    bases = [(m.finished_at, m.backup_id) for m in f.history.manifests] if f.history else []
    bases += [(s.finished_at, f"snapshot:{s.snapshot_id}") for s in f.history.snapshots] if f.history else []
    if not bases:
        return Result("last-backup", "critical", "no complete base backup", "{do}", remedy=Remedy("backup"))
    finished_at, base_id = max(bases, key=lambda b: parse_iso(b[0]))
    age = since(f, finished_at)
    interval = f.backup_interval_s or DEFAULT_INTERVAL_S
    allowed = interval * 1.1 + 600
    if age > allowed:
        return Result(
            "last-backup",
            "critical",
            f"the newest complete backup {base_id} is {fmt(age)} old; the schedule promises {fmt(interval)}",
            "{do}, and check what runs the schedule",
            value={"age_s": age},
            remedy=Remedy("backup"),
        )
    return Result(
        "last-backup", "ok", f"{base_id}, {fmt(age)} ago (every {fmt(interval)})", value={"age_s": age}
    )


def check_restorable(f: Facts) -> Result:
    broken = f.history.damaged_bases if f.history else {}
    if not f.history or not f.history.timeline.windows:
        if broken:
            return Result(
                "restorable",
                "critical",
                f"nothing is restorable: the only base backup(s) {', '.join(broken)} are damaged "
                f"({next(iter(broken.values()))})",
                "repair them from another repository, or {do}",
                value={"damaged_bases": len(broken)},
                remedy=Remedy("backup"),
            )
        return Result("restorable", "critical", "nothing is restorable", "{do}", remedy=Remedy("backup"))
    newest_base = f.history.manifests[-1].end if f.history.manifests else None
    window = f.history.timeline.main
    assert window is not None  # there are windows
    gaps = [g for g in f.history.timeline.gaps if newest_base is None or g[1] > newest_base]
    length = float(window.end.time - window.start.time)
    if gaps:
        return Result(
            "restorable",
            "critical",
            f"{len(gaps)} gap(s) since the newest base backup",
            "take a new base backup to restore protection",
            value={"gaps": len(gaps)},
        )
    if broken:
        return Result(
            "restorable",
            "warning",
            f"restorable for the last {fmt(length)}, but base backup(s) {', '.join(broken)} are damaged "
            f"({next(iter(broken.values()))}): no window rests on them",
            "repair them from another repository, or {do}",
            value={"window_s": length, "damaged_bases": len(broken)},
            remedy=Remedy("backup"),
        )
    return Result(
        "restorable", "ok", f"restorable for the last {fmt(length)} without a gap", value={"window_s": length}
    )


CHECKS: list[Callable[[Facts], Result]] = [
    check_owner,
    check_objectives,
    check_repositories,
    check_repository,
    check_cross_region,
    check_backup_member,
    check_oplog_window,
    check_archiver,
    check_last_backup,
    check_restorable,
    check_drill_age,
    check_drill_rto,
    check_alerts,
    check_encryption,
    check_snapshot_method,
    check_secrets,
    check_detection,
]


def run_checks(facts: Facts) -> list[Result]:
    return [check(facts) for check in CHECKS]
