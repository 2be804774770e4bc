"""repair, undelete: bring a damaged or hidden backup back from where a good copy is kept."""

from __future__ import annotations

import click
from rich.markup import escape

from .. import config
from ..catalog.history import deployments
from ..errors import BackupNotFound, UsageError, VerificationFailed
from ..repo import layout
from ..repo.integrity import verify_backup
from ..secrets import redact
from ..session import Session
from ..session.repositories import open_repository
from ..verify.repair import repair as repair_from
from .options import app, json_option, repo_option


@click.command()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL|NAME",
    help="The repository holding good copies (a URL, or a repository name in the plan).",
)
@repo_option
@click.option("--dry-run", is_flag=True, help="Check the good copies; write nothing.")
@json_option
@app
def repair(ctx: Session, source: str, repo: str | None, dry_run: bool) -> None:
    """Copy a good copy over every damaged object (found by verify, a restore or the
    agent's sampling), checked there, written here, checked again."""
    out = ctx.output
    repository = open_repository(ctx, repo)
    named = config.resolve_repo_name(source, ctx.plan)
    good = open_repository(ctx, named)
    if good.info.get("repo_id") and good.info.get("repo_id") == repository.info.get("repo_id"):
        raise UsageError(
            f"{redact(named)} is the repository being repaired", "name another repository with --from"
        )
    report = repair_from(repository, good, dry_run)
    verb = "would repair" if dry_run else "repaired"

    def render() -> None:
        if not report.repaired and not report.failed:
            out.say("nothing to repair: no damaged object is known (lifeboat verify --all finds them)")
        for key in report.repaired:
            out.say(f"{verb}: {key}")
        for key, problem in report.failed.items():
            out.say_marked(f"[red]not repaired[/red]: {escape(f'{key}: {problem}')}")

    out.result(report.describe(), render)
    if report.failed:
        raise VerificationFailed(
            f"{len(report.failed)} damaged object(s) not repaired",
            "try another repository with --from, or restore another backup",
        )


@click.command()
@click.argument("backup_id")
@click.option(
    "--deployment", help="The deployment the backup belongs to (default: every one the repository knows)."
)
@repo_option
@json_option
@app
def undelete(ctx: Session, backup_id: str, deployment: str | None, repo: str | None) -> None:
    """Bring back a deleted backup that a versioned bucket still holds (S3 versioning or
    Object Lock: a delete only hid it behind delete markers), then verify it."""
    out = ctx.output
    if not layout.is_backup_id(backup_id):
        raise UsageError(f"not a backup id: {backup_id!r}", "backup ids look like 20261124T021300Z")
    repository = open_repository(ctx, repo)
    names = [deployment] if deployment else deployments(repository)
    back = [k for name in names for k in repository.storage.undelete(layout.backup_prefix(name, backup_id))]
    if not back:
        raise BackupNotFound(
            f"no deleted version of backup {backup_id} in {repository.url}",
            "only a versioned bucket keeps what was deleted; see what exists with: lifeboat list"
            + ("" if deployment else "; name its deployment with --deployment"),
        )
    manifest = repository.resolve(backup_id)
    report = verify_backup(repository.storage, manifest)
    data = {"backup_id": backup_id, "objects_back": len(back), "ok": report.ok, "problems": report.problems}

    def render() -> None:
        out.say(
            f"brought back backup {backup_id}: {len(back)} objects; verified: {'ok' if report.ok else 'BAD'}"
        )
        for p in report.problems:
            out.say(f"  {p['object']}: {p['problem']}")

    out.result(data, render)
    if not report.ok:
        raise VerificationFailed(f"backup {backup_id} is back but {len(report.problems)} object(s) are bad")
