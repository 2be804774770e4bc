"""drill, drill list, drill show."""

from __future__ import annotations

from pathlib import Path

import click

from .. import config
from ..catalog import snapshots as snapshots
from ..catalog.history import load_history
from ..catalog.points import Point
from ..drill import fingerprint
from ..drill import report as reports
from ..drill.html import render
from ..drill.report import DrillReport
from ..drill.service import DrillOptions, run_drill
from ..drill.snapshot_drill import drill_snapshot
from ..errors import DrillFailed
from ..events import Update
from ..json_documents import drill_rows
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import event, failure_signalled, sinks_for
from .options import app, deployment_option, group_session, json_option, repo_option, source_option

_PHASES = {
    "fetch_verify": "fetching and verifying every object the restore needs",
    "load": "loading collections, documents and views into staging",
    "replay": "replaying the oplog to the drill's moment",
    "indexes": "building indexes",
    "users": "restoring users and roles",
    "proof": "proving the restore: structure, and every document against the source",
}


def _proved(r: DrillReport) -> str | None:
    """What the drill proved, in one line (``check drill-age`` compares it with the setup now)."""
    f = r.fingerprint
    if f is None:
        return None
    parts = [f"server {f.server['version']} (FCV {f.server['fcv']})" if f.server else "server unknown"]
    if f.collections is not None:
        parts.append(f"{len(f.collections)} collections and views with their indexes")
    if f.users is not None and f.roles is not None:
        parts.append(f"{len(f.users)} users, {len(f.roles)} roles")
    parts.append("the plan" if f.plan is not None else "no plan file")
    return "  proved: " + ", ".join(parts) + f", Lifeboat {f.lifeboat}"


def _summary(r: DrillReport) -> str:
    rto = ""
    if r.rto is not None and r.margin is not None:
        took = r.projected_recovery_s if r.projected_recovery_s is not None else r.recovery_s
        how = "projected " if r.projected_recovery_s is not None else ""
        rto = f"; recovery {how}{took:.1f}s against an RTO of {r.rto:g}s (margin {r.margin:+.1f}s)"
    return (
        f"drill {r.id}: {r.verdict.upper()} — restored to {r.target_wall} from {r.base_backup} in "
        f"{r.recovery_s:.1f}s{rto}; {r.documents_compared} documents compared, {r.documents_skipped} left out"
    )


@click.group(invoke_without_command=True)
@click.option(
    "--to", "to", default=None, metavar="T", help="The moment to restore (default: the latest restorable)."
)
@click.option("--latest", is_flag=True, help="The latest restorable moment (the default).")
@click.option(
    "--staging",
    default=None,
    metavar="URI|scratch",
    help="Where to restore (default: the plan's, else scratch).",
)
@click.option(
    "--ns-include",
    multiple=True,
    metavar="PATTERN",
    help="Only these namespaces (the full time is projected).",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Parallel loaders (default 4).")
@click.option(
    "--base",
    default=None,
    metavar="snapshot:ID",
    help="Drill a volume snapshot: [snapshot.command] restore brings staging up on its data.",
)
@source_option
@repo_option
@deployment_option
@json_option
@click.pass_context
def drill(
    click_ctx: click.Context,
    to: str | None,
    latest: bool,
    staging: str | None,
    ns_include: tuple[str, ...],
    jobs: int | None,
    base: str | None,
    source: str | None,
    repo: str | None,
    deployment: str | None,
    as_json: bool,
) -> None:
    """Restore a moment into staging, prove the data is right, and time it against the RTO."""
    ctx = group_session(click_ctx, as_json)
    if ctx is None:
        return
    if to and latest:
        raise click.UsageError("give --to T or --latest, not both")
    plan, out = ctx.plan, ctx.output
    point = Point.parse(to) if to else None  # a bad --to is said before anything is opened
    repository = open_repository(ctx, repo, every=True)
    name = load_history(repository, deployment).deployment
    sinks = sinks_for(ctx, repository, name)
    opts = DrillOptions(
        source_uri=config.require_source(source, plan),
        to=point,
        staging=staging or plan.drill.staging,
        ns_include=ns_include,
        jobs=jobs or plan.restore.jobs,
        rto_s=plan.objectives.rto,
        plan_name=plan.deployment.name,
        timeout_ms=config.timeout_ms(plan),
        plan_parts=fingerprint.of_plan(plan) if ctx.plan_path is not None else None,
    )

    def show(u: Update) -> None:
        if u.kind == "phase":
            out.note(f"drill: {_PHASES.get(u.name, u.name)}")

    with failure_signalled(ctx, sinks, "drill", name, repository.url):
        if base is not None:
            if not base.startswith(snapshots.PREFIX) or ns_include:
                raise click.UsageError("--base takes snapshot:ID (and no --ns-include)")
            report = drill_snapshot(repository, deployment, base, plan.snapshot, opts, ctx.reporter(show))
        else:
            report = run_drill(repository, name, opts, ctx.reporter(show))
    sinks.emit(
        event(
            ctx,
            "drill",
            "success" if report.verdict == "pass" else "failure",
            name,
            repository.url,
            _summary(report),
            id=report.id,
            verdict=report.verdict,
            margin=report.margin,
            failures=report.failures[:10],
        )
    )

    def render_text() -> None:
        out.say(_summary(report))
        for phase, seconds in report.phases.items():
            out.say(f"  {phase:<13} {seconds:8.2f}s")
        if proved := _proved(report):
            out.say(proved)
        for f in report.failures:
            where = " ".join(str(f[k]) for k in ("ns", "_id", "object") if f.get(k))
            out.say(f"  FAIL {f['step']}: {where + ': ' if where else ''}{f['problem']}")

    out.result(report.to_json(), render_text)
    if report.verdict != "pass":
        first = report.failures[0]
        raise DrillFailed(
            f"drill {report.id} failed: {len(report.failures)} failure(s); first: {first['step']}: {first['problem']}",
            f"see: lifeboat drill show {report.id}",
        )


@drill.command("list")
@repo_option
@deployment_option
@json_option
@app
def drill_list(ctx: Session, repo: str | None, deployment: str | None) -> None:
    """Past drills, oldest first."""
    repository = open_repository(ctx, repo, every=True)
    name = load_history(repository, deployment).deployment
    rows = drill_rows(reports.history(repository.storage, name))

    def render_text() -> None:
        if not rows:
            ctx.output.say("no drills yet: run lifeboat drill")
        for r in rows:
            margin = "" if r["margin"] is None else f"  margin {r['margin']:+.1f}s"
            ctx.output.say(
                f"{r['id']}  {r['verdict']:<4}  to {r['target_ts']}  recovery {r['recovery_s']:.1f}s{margin}  "
                f"{r['documents_compared']} docs compared  {r['failures']} failure(s)"
            )

    ctx.output.result(rows, render_text)


@drill.command("show")
@click.argument("drill_id", default="latest")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write a standalone HTML page.",
)
@repo_option
@deployment_option
@json_option
@app
def drill_show(
    ctx: Session, drill_id: str, html_path: Path | None, repo: str | None, deployment: str | None
) -> None:
    """One drill's report (DRILL_ID or latest)."""
    repository = open_repository(ctx, repo, every=True)
    name = load_history(repository, deployment).deployment
    report = reports.load(repository.storage, name, drill_id)
    if html_path is not None:
        html_path.write_text(render(report, reports.history(repository.storage, name)), encoding="utf-8")
        ctx.output.note(f"wrote {html_path}")

    def render_text() -> None:
        ctx.output.say(_summary(report))
        for phase, seconds in report.phases.items():
            ctx.output.say(f"  {phase:<13} {seconds:8.2f}s")
        if proved := _proved(report):
            ctx.output.say(proved)
        for f in report.failures:
            ctx.output.say(f"  FAIL {f}")

    ctx.output.result(report.to_json(), render_text)
