"""The repository's housekeeping: create it, delete and clean up backups, prune by the
retention policy, copy to another repository."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from .. import config
from ..backup import housekeeping
from ..backup.copy import copy_repository
from ..backup.prune import prune as run_prune
from ..backup.retention import Policy
from ..catalog.history import load_history
from ..catalog.snapshots import SnapshotManifest
from ..child_documents import PruneDocument
from ..config import repo_url
from ..errors import UsageError
from ..repo.repository import Repository
from ..session import Session
from ..session.repositories import open_repository
from ..snapshot.providers import Context as SnapshotContext
from ..snapshot.providers import provider_for
from .options import (
    app,
    deployment_option,
    human_bytes,
    json_option,
    repo_option,
)


@click.command()
@repo_option
@json_option
@app
def init(ctx: Session, repo: str | None) -> None:
    """Create a repository."""
    url = repo_url(repo, ctx.plan)
    r = Repository.init(url, config.repository_settings(url, ctx.plan))
    verb = "already a repository, nothing changed:" if r.already_existed else "created repository"
    ctx.output.result(
        {
            "repository": r.url,
            "repo_id": r.info["repo_id"],
            "format": r.info["format"],
            "created": not r.already_existed,
        },
        lambda: ctx.output.say(f"{verb} {r.url} (id {r.info['repo_id']})"),
    )


@click.command()
@click.argument("backup_id")
@repo_option
@click.option("--force", is_flag=True, help="Delete even the only base backup of a restorable window.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@json_option
@app
def delete(ctx: Session, backup_id: str, repo: str | None, force: bool, dry_run: bool) -> None:
    """Delete a backup (its manifest first, so an interrupted delete leaves it incomplete)."""
    repository = open_repository(ctx, repo)
    listing = next((b for b in repository.list_backups() if b.backup_id == backup_id and b.manifest), None)
    timeline = (
        load_history(repository, listing.manifest.deployment).timeline
        if listing and listing.manifest
        else None
    )
    d = housekeeping.delete_backup(repository, backup_id, timeline, force, dry_run)
    verb = "would delete" if dry_run else "deleted"
    ctx.output.result(
        {**asdict(d), "dry_run": dry_run},
        lambda: ctx.output.say(
            f"{verb} {d.status} backup {d.backup_id}: {d.objects} objects, {human_bytes(d.bytes)}"
        ),
    )


@click.command()
@repo_option
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@json_option
@app
def cleanup(ctx: Session, repo: str | None, dry_run: bool) -> None:
    """Remove incomplete backups (killed or failed; never a running one) and what killed
    writes left half-written (untouched for 15 minutes)."""
    repository = open_repository(ctx, repo)
    removed = housekeeping.cleanup(repository, dry_run)
    partials = housekeeping.sweep_partials(repository, dry_run)
    verb = "would remove" if dry_run else "removed"

    def render() -> None:
        for d in removed:
            ctx.output.say(
                f"{verb} incomplete backup {d.backup_id}: {d.objects} objects, {human_bytes(d.bytes)}"
            )
        for key in partials:
            ctx.output.say(f"{verb} a partial write: {key}")
        ctx.output.say(f"{verb} {len(removed)} incomplete backup(s) and {len(partials)} partial write(s)")

    data = {"dry_run": dry_run, "removed": [asdict(d) for d in removed], "partial_objects": list(partials)}
    ctx.output.result(data, render)


def _policy(ctx: Session, url: str, overrides: dict[str, Any]) -> Policy:
    """The options given, else the plan's [[repository]] entry for this URL (else its first)."""
    entry = next(
        (r for r in ctx.plan.repository if r.url == url),
        ctx.plan.repository[0] if ctx.plan.repository else None,
    )

    def pick(name: str, plan_value: Any) -> Any:
        return overrides[name] if overrides[name] is not None else plan_value

    window = pick("recovery_window", entry.recovery_window if entry else None)
    return Policy(
        keep_last=pick("keep_last", entry.keep_last if entry else 0),
        keep_daily=pick("keep_daily", entry.keep_daily if entry else 0),
        keep_weekly=pick("keep_weekly", entry.keep_weekly if entry else 0),
        recovery_window_s=float(window or 0.0),
    )


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return config.parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


@click.command()
@repo_option
@deployment_option
@click.option("--keep-last", type=click.IntRange(0), default=None, help="Keep the newest N base backups.")
@click.option(
    "--keep-daily", type=click.IntRange(0), default=None, help="Keep the newest backup of each of N days."
)
@click.option(
    "--keep-weekly", type=click.IntRange(0), default=None, help="Keep the newest backup of each of N weeks."
)
@click.option(
    "--recovery-window",
    default=None,
    callback=_duration,
    metavar="DURATION",
    help="Keep every second of the last DURATION restorable (e.g. 7d).",
)
@click.option(
    "--grace",
    default="1d",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="Remove incomplete backups older than this.",
)
@click.option(
    "--dry-run", is_flag=True, help="List exactly what would be deleted, and the bytes freed; delete nothing."
)
@json_option
@app
def prune(
    ctx: Session,
    repo: str | None,
    deployment: str | None,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    recovery_window: float | None,
    grace: float,
    dry_run: bool,
) -> None:
    """Apply the retention policy ([[repository]] keep_* and recovery_window, or the options)."""
    url = repo_url(repo, ctx.plan)
    repository = Repository.open(url, config.repository_settings(url, ctx.plan))
    policy = _policy(
        ctx,
        url,
        {
            "keep_last": keep_last,
            "keep_daily": keep_daily,
            "keep_weekly": keep_weekly,
            "recovery_window": recovery_window,
        },
    )
    if policy.empty:
        raise UsageError(
            "no retention policy: prune would keep nothing",
            "set keep_last / keep_daily / keep_weekly / recovery_window on the [[repository]], or pass --keep-last N",
        )

    def delete_snapshot(snap: SnapshotManifest) -> None:
        provider_for(ctx.plan.snapshot, snap.provider).delete(SnapshotContext.of(snap))

    report = run_prune(
        repository,
        load_history(repository, deployment),
        policy,
        grace,
        dry_run,
        delete_snapshot=delete_snapshot,
    )
    verb = "would delete" if dry_run else "deleted"

    def render() -> None:
        for backup_id, why in sorted(report.kept.items()):
            ctx.output.say(f"keep    {backup_id}  ({', '.join(why)})")
        for b in report.deleted_backups:
            ctx.output.say(
                f"{'delete' if dry_run else 'deleted':<7} {b['backup_id']}  {b['objects']} objects, {human_bytes(b['bytes'])}"
            )
        for snap in report.deleted_snapshots:
            ctx.output.say(
                f"{'delete' if dry_run else 'deleted':<7} snapshot:{snap['snapshot_id']}  ({', '.join(snap['provider_ids'])})"
            )
        for p in report.promised:
            ctx.output.say(f"restorable kept: after {p['after']} through {p['through']}")
        for lock in report.locked:
            what = lock.get("backup_id") or lock.get("segment")
            ctx.output.say(
                f"skip    {what}: under Object Lock until {lock['until']} (a later prune deletes it)"
            )
        ctx.output.say(
            f"{verb} {len(report.deleted_backups)} backup(s), {len(report.deleted_snapshots)} snapshot(s) and "
            f"{report.deleted_segments} segment(s): "
            f"{human_bytes(report.bytes_freed)} freed"
        )

    ctx.output.result(PruneDocument.of(report), render)


def _url_of(ctx: Session, name_or_url: str) -> str:
    """A plan repository's URL by its name, or the URL given."""
    return next((r.url for r in ctx.plan.repository if r.name == name_or_url), name_or_url)


@click.command()
@click.option("--from", "source", required=True, metavar="NAME|URL", help="The repository to copy from.")
@click.option(
    "--to", "target", required=True, metavar="NAME|URL", help="The repository to copy to (created if new)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be copied; copy nothing.")
@json_option
@app
def copy(ctx: Session, source: str, target: str, dry_run: bool) -> None:
    """Copy backups and the archived oplog to another repository, each object verified first."""
    src_url, dst_url = _url_of(ctx, source), _url_of(ctx, target)
    src = Repository.open(src_url, config.repository_settings(src_url, ctx.plan))
    dst = Repository.init(dst_url, config.repository_settings(dst_url, ctx.plan))  # created if new
    if dst.url == src.url:
        raise UsageError("--from and --to are the same repository", "name two different repositories")
    report = copy_repository(src, dst, dry_run)
    verb = "would copy" if dry_run else "copied"
    ctx.output.result(
        asdict(report),
        lambda: ctx.output.say(
            f"{verb} {len(report.backups)} backup(s), {report.segments} segment(s), {report.gaps} gap record(s): "
            f"{report.objects} objects, {human_bytes(report.bytes)} from {src.url} to {dst.url}"
            + (f" ({len(report.already_there)} backup(s) already there)" if report.already_there else "")
        ),
    )
