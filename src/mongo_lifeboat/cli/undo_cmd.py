"""undo."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import config
from ..catalog.history import incident_by_id, load_history
from ..config import source_uri
from ..errors import UsageError
from ..mongo.client import connect, describe
from ..session import Session
from ..session.repositories import open_repository
from ..undo.service import LISTED, UndoOptions, run_undo
from .options import app, deployment_option, json_option, repo_option


@click.command()
@click.argument("incident_id", metavar="INCIDENT")
@click.option(
    "--target",
    metavar="URI",
    help="The deployment to put the documents back into. Default: the source (--source, LIFEBOAT_SOURCE_URI).",
)
@click.option("--source", metavar="URI", hidden=True, help="Alias of --target.")
@repo_option
@click.option("--into", metavar="COLLECTION", help="Side collection (default <coll>_undo_<position>).")
@click.option("--apply", "apply_", is_flag=True, help="Write back into the live collection itself.")
@click.option("--dry-run", is_flag=True, help="Say what would be written and every conflict; write nothing.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Parallel loaders for drops.")
@deployment_option
@json_option
@app
def undo(
    ctx: Session,
    incident_id: str,
    target: str | None,
    source: str | None,
    repo: str | None,
    into: str | None,
    apply_: bool,
    dry_run: bool,
    jobs: int | None,
    deployment: str | None,
) -> None:
    """Undo one incident (from `lifeboat incidents`), keeping every later write.

    Bulk deletes and updates: the affected documents as they were just before it go into a
    side collection, or with --apply back into the live collection where nothing changed
    them since (everything else is a listed conflict). Drops: the collections as they were,
    under their own name with --apply when it is free, else beside it.
    """
    out = ctx.output
    if apply_ and into:
        raise UsageError("give --apply or --into, not both", "--apply writes into the live collection itself")
    opts = UndoOptions(apply=apply_, into=into, dry_run=dry_run, jobs=jobs or ctx.plan.restore.jobs)
    repository = open_repository(ctx, repo, every=True)
    history = load_history(repository, deployment)
    incident = incident_by_id(repository.storage, history.segments, incident_id)
    uri = target or source_uri(source, ctx.plan)
    if not uri:  # --dry-run too: the conflicts are read from the deployment's own oplog
        raise UsageError(
            "no deployment given to undo the incident in",
            "pass --target URI (the live replica set) or set LIFEBOAT_SOURCE_URI",
        )
    client = connect(uri, role="target", timeout_ms=config.timeout_ms(ctx.plan))
    try:
        report = run_undo(
            repository,
            history,
            incident,
            client,
            opts,
            ctx.reporter(lambda u: out.note(f"undo: {u.message}")),
        )
    finally:
        client.close()
    data = {"target": describe(uri or ""), **asdict(report)}

    def render() -> None:
        for line in report.notes:
            out.warn(line)
        if report.conflicts:
            shown = ", ".join(str(c) for c in report.conflicts[:LISTED])
            more = (
                f" and {len(report.conflicts) - LISTED} more (--json lists all)"
                if len(report.conflicts) > LISTED
                else ""
            )
            out.say(f"conflicts (written again after the incident, left alone): {shown}{more}")
        out.say(report.summary())

    out.result(data, render)
