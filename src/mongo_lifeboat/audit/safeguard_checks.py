"""The checks of what reaches and guards the data: alerts that are delivered, encryption at
rest, a snapshot method that can work here, and no credentials written in the plan itself."""

from __future__ import annotations

from .. import secrets
from ..config import WHOLLY_SECRET_REPOSITORY_KEYS, Plan
from ..remedies import Remedy
from .facts import Facts
from .result import Result


def check_alerts(f: Facts) -> Result:
    if not f.plan.alerts.notify:
        return Result(
            "alerts",
            "critical",
            "no alert destination: failures reach nobody",
            'add [alerts] notify = ["slack://…"] (any Apprise URL)',
        )
    if f.delivery is None:
        return Result(
            "alerts",
            "warning",
            f"{len(f.plan.alerts.notify)} destination(s), none used yet",
            "{do}",
            remedy=Remedy("notify-test"),
        )
    if not f.delivery.get("ok"):
        return Result(
            "alerts",
            "critical",
            f"the last delivery ({f.delivery.get('event')}, {f.delivery.get('time')}) failed",
            "check the URLs; {do}",
            value=f.delivery,
            remedy=Remedy("notify-test"),
        )
    return Result(
        "alerts",
        "ok",
        f"{len(f.plan.alerts.notify)} destination(s); last delivery {f.delivery.get('time')} ok",
        value={"time": f.delivery.get("time")},
    )


def check_encryption(f: Facts) -> Result:
    plain = [r.name for r in f.repositories if r.encrypted is not True]
    if not f.repositories or plain:
        return Result(
            "encryption",
            "warning",
            f"not encrypted at rest: {', '.join(plain) or 'no repository'}",
            "create encrypted repositories (LIFEBOAT_ENCRYPTION_KEY or key_file) and {do}",
            value=plain,
            remedy=Remedy("copy", {"source": plain[0] if plain else "NAME", "target": "NEW"}),
        )
    return Result(
        "encryption", "ok", f"all {len(f.repositories)} repositories encrypted at rest (AES-256-GCM)"
    )


def check_snapshot_method(f: Facts) -> Result:
    s = f.plan.snapshot
    if not s.configured:
        return Result("snapshot-method", "ok", "the plan takes no volume snapshots")
    if f.write_lock_problem:
        return Result(
            "snapshot-method",
            "warning",
            f"consistency = fsync-lock cannot work on the source: {f.write_lock_problem}",
            'set [snapshot] consistency = "journal" (data and journal on one volume, snapshotted '
            'atomically) or "cold" (the member stopped by [snapshot] pre/post)',
        )
    return Result("snapshot-method", "ok", f"{s.provider} snapshots, consistency {s.consistency}")


def check_secrets(f: Facts) -> Result:
    literal = literal_secrets(f.plan)
    if literal:
        return Result(
            "secrets",
            "warning",
            f"the plan file holds credentials itself: {', '.join(literal)}",
            "write them as ${VAR} and set the variable where Lifeboat runs (the plan file may be read "
            "by others; {do} redacts them)",
            value={"keys": literal},
            remedy=Remedy("plan-show"),
        )
    return Result("secrets", "ok", "every credential in the plan comes from ${VAR}")


def literal_secrets(plan: Plan) -> list[str]:
    """The keys that hold a credential written in the plan itself rather than as ${VAR}."""
    candidates: list[tuple[str, str | None, bool]] = [  # (key, value, whether any path is secret)
        ("deployment.source", plan.deployment.source, False),
        ("drill.staging", plan.drill.staging, False),
        ("agent.token", plan.agent.token, True),
        ("owner.escalation", plan.owner.escalation if plan.owner else None, True),
        *((f"repository[{i}].url", r.url, False) for i, r in enumerate(plan.repository)),
        *(
            (f"repository[{i}].{key}", getattr(r, key), True)
            for i, r in enumerate(plan.repository)
            for key in WHOLLY_SECRET_REPOSITORY_KEYS
        ),
        *((f"alerts.notify[{i}]", u, True) for i, u in enumerate(plan.alerts.notify)),
        ("snapshot.pre", plan.snapshot.pre, False),
        ("snapshot.post", plan.snapshot.post, False),
    ]
    if plan.snapshot.command is not None:
        candidates += [
            (f"snapshot.command.{k}", v, False) for k, v in plan.snapshot.command.model_dump().items()
        ]
    out = []
    for key, value, whole in candidates:
        if not value or key in plan._from_env:
            continue
        # A token, a notification URL with a path or query (its token), or a credential inside.
        literal = key == "agent.token" or key.endswith(WHOLLY_SECRET_REPOSITORY_KEYS)
        literal = literal or secrets.holds_credential(value)
        if whole and "://" in value:
            literal = literal or secrets.redact_notify_url(value) != value
        if literal:
            out.append(key)
    return out


def check_detection(f: Facts) -> Result:
    """Whether the archiver scores what it archives (``[detect]``): the call at 2 AM comes from
    Lifeboat, not from a customer."""
    d = f.plan.detect
    if not d.enabled:
        return Result(
            "detection",
            "warning",
            "live detection is off: an accidental bulk delete or drop is found only when someone "
            "lists the incidents",
            "set [detect] enabled = true; meanwhile {do}",
            remedy=Remedy("incidents"),
        )
    state = f.history.timeline.state if f.history else None
    thresholds = f"{d.min_docs}+ documents, or {d.spike_factor:g}x a collection's usual writes (at least {d.spike_min})"
    if not state or not state.get("running"):
        return Result(
            "detection",
            "warning",
            f"on in the plan ({thresholds}), but no archiver is running to do it",
            "{do}",
            remedy=Remedy("stream"),
        )
    return Result("detection", "ok", f"the archiver detects incidents as it archives: {thresholds}")
