"""snapshot, snapshot list, snapshot delete."""

from __future__ import annotations

from typing import Any

import click

from .. import config
from ..catalog import snapshots as records
from ..catalog.history import single_deployment
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import event, failure_signalled, sinks_for
from ..snapshot.providers import Context, provider_for
from ..snapshot.service import SnapshotOptions, take_snapshot
from .options import (
    app,
    deployment_option,
    group_session,
    json_option,
    member_option,
    repo_option,
    source_option,
)


def _row(m: records.SnapshotManifest) -> dict[str, Any]:
    return {
        **m.model_dump(mode="json"),
        "base": f"{records.PREFIX}{m.snapshot_id}",
        "exact": m.exact,
    }


@click.group(invoke_without_command=True)
@click.option(
    "--provider",
    type=click.Choice(["command", "ebs", "lvm", "zfs"]),
    default=None,
    help="Who takes it (default [snapshot] provider).",
)
@source_option
@repo_option
@member_option
@json_option
@click.pass_context
def snapshot(
    click_ctx: click.Context,
    provider: str | None,
    source: str | None,
    repo: str | None,
    member: str | None,
    as_json: bool,
) -> None:
    """Take a consistent volume snapshot of one member, recorded as a point-in-time base."""
    ctx = group_session(click_ctx, as_json)
    if ctx is None:
        return
    plan, out = ctx.plan, ctx.output
    settings = plan.snapshot
    chosen = provider_for(settings, provider)  # a provider not set up is said before anything runs
    repository = open_repository(ctx, repo, every=True)
    opts = SnapshotOptions(
        source_uri=config.require_source(source, plan),
        member=member or settings.member or config.member(None, plan),
        consistency=settings.consistency,
        lock_timeout_s=settings.lock_timeout,
        pre=settings.pre,
        post=settings.post,
        timeout_ms=config.timeout_ms(plan),
    )
    sinks = sinks_for(ctx, repository, None)
    with failure_signalled(ctx, sinks, "snapshot", None, repository.url):
        m = take_snapshot(
            repository, opts, chosen, ctx.reporter(lambda u: out.note(f"snapshot: {u.message}"))
        )
    how = {
        "fsync-lock": f"writes locked for {m.lock_held_s}s",
        "journal": "crash-consistent (journal)",
        "cold": "member stopped",
    }
    at = m.consistent_from if m.exact else f"between {m.consistent_from} and {m.consistent_to}"
    summary = f"snapshot {m.snapshot_id} of {m.member} ({m.provider}: {', '.join(m.provider_ids)}), {how[m.consistency]}; data at {at}"
    sinks.emit(
        event(ctx, "snapshot", "success", m.deployment, repository.url, summary, snapshot_id=m.snapshot_id)
    )
    out.result(_row(m), lambda: out.say(summary))


@snapshot.command("list")
@repo_option
@deployment_option
@json_option
@app
def snapshot_list(ctx: Session, repo: str | None, deployment: str | None) -> None:
    """Recorded snapshots, oldest first."""
    repository = open_repository(ctx, repo, every=True)
    name = deployment or single_deployment(repository)
    rows = [_row(m) for m in records.list_snapshots(repository.storage, name)] if name else []

    def render() -> None:
        if not rows:
            ctx.output.say("no snapshots yet: lifeboat snapshot")
        for r in rows:
            at = r["consistent_from"] if r["exact"] else f"{r['consistent_from']}..{r['consistent_to']}"
            ctx.output.say(
                f"{r['base']}  {r['provider']:<7} {r['consistency']:<10} data at {at}  {' '.join(r['provider_ids'])}"
            )

    ctx.output.result(rows, render)


@snapshot.command("delete")
@click.argument("snapshot_id")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@repo_option
@deployment_option
@json_option
@app
def snapshot_delete(
    ctx: Session, snapshot_id: str, dry_run: bool, repo: str | None, deployment: str | None
) -> None:
    """Delete a snapshot: the provider's snapshots, then its record."""
    repository = open_repository(ctx, repo, every=True)
    name = deployment or single_deployment(repository) or "?"
    m = records.load(repository.storage, name, snapshot_id)
    if not dry_run:
        provider_for(ctx.plan.snapshot, m.provider).delete(Context.of(m))
        records.delete(repository.storage, m)
    ctx.output.result(
        {"snapshot_id": m.snapshot_id, "provider_ids": m.provider_ids, "dry_run": dry_run},
        lambda: ctx.output.say(
            f"{'would delete' if dry_run else 'deleted'} snapshot {m.snapshot_id} ({', '.join(m.provider_ids)})"
        ),
    )
