"""The checks of the restore drills: that one passed recently, and that it met the RTO."""

from __future__ import annotations

from ..config import format_duration as fmt
from ..drill import fingerprint
from ..drill.report import DrillReport
from ..remedies import Remedy
from .facts import Facts
from .result import Result, since


def check_drill_age(f: Facts) -> Result:
    max_age = f.plan.drill.max_age
    passing = [d for d in f.drills if d.verdict == "pass"]
    if not passing:
        what = "no drill has ever passed" if f.drills else "no restore drill has ever run"
        return Result(
            "drill-age", "critical", f"{what}: restores are unproven", "{do}", remedy=Remedy("drill")
        )
    age = since(f, passing[-1].finished_at)
    if age > max_age:
        return Result(
            "drill-age",
            "warning",
            f"the last passing drill is {fmt(age)} old (max_age {fmt(max_age)})",
            "{do} (and schedule it)",
            value={"age_s": age},
            remedy=Remedy("drill"),
        )
    drift = _untested_changes(f, passing[-1])
    if drift:
        return Result(
            "drill-age",
            "warning",
            f"untested since {passing[-1].finished_at}: {fingerprint.described(drift)}",
            "{do} (the agent drills after a change: [drill] after_change)",
            value={
                "age_s": age,
                "changed": drift,
                "signature": f.fingerprint.signature if f.fingerprint else None,
            },
            remedy=Remedy("drill"),
        )
    if f.drills[-1].verdict != "pass":
        return Result(
            "drill-age",
            "warning",
            f"the newest drill {f.drills[-1].id} failed",
            "{do}",
            value={"age_s": age},
            remedy=Remedy("drill-show"),
        )
    return Result("drill-age", "ok", f"passed {fmt(age)} ago", value={"age_s": age})


def _untested_changes(f: Facts, proved: DrillReport) -> list[str]:
    """What changed in the setup since the drill that passed last proved it (nothing when
    either side is not known: a drill from before fingerprints, a source that did not answer)."""
    if proved.fingerprint is None or f.fingerprint is None:
        return []
    return fingerprint.changes(proved.fingerprint, f.fingerprint)


def check_drill_rto(f: Facts) -> Result:
    rto = f.plan.objectives.rto
    if not f.drills:
        return Result(
            "drill-rto", "warning", "no drill has measured a recovery time", "{do}", remedy=Remedy("drill")
        )
    d = f.drills[-1]
    took = d.projected_recovery_s if d.projected_recovery_s is not None else d.recovery_s
    how = "projected" if d.projected_recovery_s is not None else "measured"
    if rto is None:
        return Result(
            "drill-rto",
            "warning",
            f"{how} recovery {fmt(took)}, but no RTO is set",
            "set [objectives] rto",
            value={"recovery_s": took},
        )
    margin = rto - took
    if margin < 0:
        return Result(
            "drill-rto",
            "critical",
            f"{how} recovery {fmt(took)} > RTO {fmt(rto)}",
            "restore faster (more -j, a closer repository) or agree a longer RTO",
            value={"recovery_s": took, "margin_s": margin},
        )
    return Result(
        "drill-rto",
        "ok",
        f"{how} recovery {fmt(took)} within RTO {fmt(rto)} (margin {fmt(margin)})",
        value={"recovery_s": took, "margin_s": margin},
    )
