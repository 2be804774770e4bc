"""compact: merge aged archived segments into larger ones (``oplog.compaction``)."""

from __future__ import annotations

import click

from ..catalog.history import deployments
from ..child_documents import CompactDocument
from ..events import Update
from ..oplog.compaction import CompactionReport, Level, levels_of
from ..oplog.compaction import compact as run_compact
from ..periods import parse_duration
from ..secrets import redact
from ..session import Session
from ..session.repositories import open_repository
from .options import app, json_option, repo_option


def _levels(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Level]:
    out = []
    for value in values:
        after, colon, span = value.partition(":")
        if not colon:
            raise click.BadParameter(
                f"{value!r}: write AFTER:SPAN, e.g. 1h:1m (older than an hour, one per minute)"
            )
        try:
            level = Level(parse_duration(after), int(parse_duration(span)))
        except ValueError as e:
            raise click.BadParameter(f"{value!r}: {e}") from e
        if level.span_s < 1 or 86400 % level.span_s:
            raise click.BadParameter(f"{value!r}: the span must divide a day (1s, 10s, 1m, 5m, 1h, ...)")
        out.append(level)
    return out


@click.command()
@repo_option
@click.option(
    "--deployment", default=None, help="Only this deployment (default: every one the repository holds)."
)
@click.option(
    "--merge",
    "merges",
    multiple=True,
    metavar="AFTER:SPAN",
    callback=_levels,
    help="Instead of the plan's levels: segments older than AFTER merged one per SPAN (repeatable; "
    "the plan's defaults are 1h:1m and 1d:1h; SPAN divides a day).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be merged; write and delete nothing.")
@json_option
@app
def compact(
    ctx: Session, repo: str | None, deployment: str | None, merges: list[Level], dry_run: bool
) -> None:
    """Merge aged archived segments into larger ones ([archiver] merge_minutes_after,
    merge_hours_after): fewer objects to list and read."""
    settings = ctx.plan.archiver
    levels = merges or levels_of(settings.merge_minutes_after, settings.merge_hours_after)
    # Each repository on its own: a mirror's copy is merged by the same rule, never through another.
    names = [repo] if repo or len(ctx.plan.repository) < 2 else [r.url for r in ctx.plan.repository]
    done: list[tuple[str, CompactionReport]] = []

    def shown(u: Update) -> None:  # progress: each merge as it is made
        f = u.facts
        ctx.output.note(f"merged {f['sources']} segments: {f['start']} .. {f['end']} ({u.done} so far)")

    for name in names:
        repository = open_repository(ctx, name)
        for dep in [deployment] if deployment else deployments(repository):
            report = run_compact(
                repository,
                dep,
                levels,
                dry_run=dry_run,
                report=ctx.reporter(shown),
                grace_s=settings.merge_grace,
            )
            done.append((repository.url, report))
    verb = "would merge" if dry_run else "merged"

    def render() -> None:
        for url, r in done:
            ctx.output.say(
                f"{redact(url)} {r.deployment}: {verb} {r.replaced} segment(s) into {r.merged}; "
                f"{r.segments_before} -> {r.segments_after} segments"
                + (f", {len(r.locked)} left under Object Lock" if r.locked else "")
                + (f", {len(r.undone)} unfinished merge(s) undone" if r.undone else "")
            )
        if not done:
            ctx.output.say("nothing archived: nothing to compact")
        if not levels:
            ctx.output.say(
                "compaction is off ([archiver] merge_minutes_after and merge_hours_after are never)"
            )

    ctx.output.result(CompactDocument.of(dry_run, done), render)
