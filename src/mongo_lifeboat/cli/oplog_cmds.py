"""stream, timeline, incidents."""

from __future__ import annotations

import math
import signal
import threading
from dataclasses import asdict
from typing import Any, cast

import click

from .. import config
from ..catalog.dropped import incident_document
from ..catalog.history import load_history, scan_incidents
from ..events import Update
from ..json_documents import timeline_document
from ..mongo.nsmap import NamespaceMap
from ..oplog.capture.archiver import Archiver, ArchiverOptions
from ..oplog.capture.sources import Capture
from ..oplog.detect import detect_settings
from ..remedies import Remedy
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import event, failure_signalled, sinks_for
from ..timestamps import parse_position
from .options import (
    FiniteFloat,
    app,
    capture_option,
    deployment_option,
    json_option,
    member_option,
    repo_option,
    source_option,
    store_as_option,
)
from .remedies import command_line


@click.command()
@source_option
@repo_option
@member_option
@click.option(
    "--segment-seconds",
    type=FiniteFloat(0.1, 3600),
    default=1.0,
    show_default=True,
    help="Commit a segment at least this often while entries arrive: the most a lost source costs.",
)
@click.option(
    "--drain-timeout",
    type=FiniteFloat(0, 3600),
    default=None,
    help="On SIGTERM/SIGINT, catch up for at most this long, then commit and exit (default: "
    "[archiver] drain_timeout, 30s).",
)
@click.option(
    "--segment-bytes",
    type=click.IntRange(1024, 1 << 30),
    default=16 << 20,
    show_default=True,
    help="...or at this size.",
)
@capture_option
@store_as_option
@json_option
@app
def stream(
    ctx: Session,
    source: str | None,
    repo: str | None,
    member: str | None,
    segment_seconds: float,
    segment_bytes: int,
    drain_timeout: float | None,
    capture: str | None,
    deployment: str | None,
) -> None:
    """Archive the oplog continuously until SIGTERM/SIGINT (then flush and exit 0)."""
    out = ctx.output
    uri = config.require_source(source, ctx.plan)
    repository = open_repository(ctx, repo, every=True)
    sinks = sinks_for(ctx, repository, None)
    repository.check_writable()  # a repository that is down now is a warning event
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def show(u: Update) -> None:
        if u.name == "segment":
            f = u.facts
            out.note(f"segment {f['start']} .. {f['end']}: {u.done} entries, lag {f['lag_s']:.1f}s")
        elif u.name == "gap":
            out.err.print(f"[bold red]{u.message}[/bold red]", highlight=False)
            # The chain broke: point-in-time recovery is lost until the next base backup.
            sinks.emit(
                event(
                    ctx,
                    "archiver",
                    "failure",
                    None,
                    repository.url,
                    u.message,
                    problem="gap",
                    start=u.facts["start"],
                    end=u.facts["end"],
                )
            )
        elif u.name == "reconnecting":
            out.note(f"stream: {u.message}")
            sinks.emit(
                event(ctx, "archiver", "warning", None, repository.url, f"archiver stalled: {u.message}")
            )
        elif u.name == "incident":
            f = u.facts
            remedy = Remedy(f["remedy"]["action"], f["remedy"]["args"]) if f.get("remedy") else None
            do = command_line(remedy) if remedy else ""
            out.err.print(f"[bold red]{u.message}[/bold red]" + (f": {do}" if do else ""), highlight=False)
            sinks.emit(
                event(
                    ctx,
                    "incident",
                    "warning" if f["kind"] == "spike" else "failure",
                    f.get("deployment"),
                    repository.url,
                    u.message + (f"; {do}" if do else ""),
                    what=u.message,
                    incident_kind=f["kind"],
                    **{k: f[k] for k in ("ns", "count", "ts", "wall", "incident_id", "remedy")},
                )
            )
        elif u.name in ("archiving", "stopped", "drain-timeout"):
            out.note(f"stream: {u.message}")

    opts = ArchiverOptions(
        uri,
        config.member(member, ctx.plan),
        segment_seconds,
        segment_bytes,
        timeout_ms=config.timeout_ms(ctx.plan),
        deployment=config.deployment_key(deployment, ctx.plan),
        drain_timeout_s=drain_timeout if drain_timeout is not None else ctx.plan.archiver.drain_timeout,
        capture=cast(Capture, capture or ctx.plan.deployment.capture),  # click's choices are the plan's
        detect=detect_settings(ctx.plan.detect),
    )
    with failure_signalled(ctx, sinks, "archiver", None, repository.url):
        stats = Archiver(repository, opts, ctx.reporter(show)).run(stop)
    out.result(
        asdict(stats),
        lambda: out.say(
            f"archived {stats.entries} entries in {stats.segments} segments, through {stats.position}"
            + (f"; {len(stats.gaps)} GAP(S)" if stats.gaps else "")
        ),
    )


@click.command()
@repo_option
@deployment_option
@json_option
@app
def timeline(ctx: Session, repo: str | None, deployment: str | None) -> None:
    """The restorable windows, the gaps between them, and the archiver's position and lag."""
    out = ctx.output
    history = load_history(open_repository(ctx, repo, every=True), deployment)
    t = history.timeline
    data: dict[str, Any] = timeline_document(history)

    def render() -> None:
        from rich.table import Table

        table = Table("", "from", "to", "base backups")
        items = [
            (
                "its own point (archive not there yet)" if w["ahead_of_archive"] else "window",
                w["start_wall"] + f" ({w['start']})",
                # The last entry it includes: the archiver's own position at the archive's end.
                w["end_wall"] + f" (through {w['through']})",
                ", ".join(w["backups"]),
            )
            for w in data["windows"]
        ]
        items += [
            ("[red]gap[/red]", g["start_wall"] + f" ({g['start']})", g["end_wall"] + f" ({g['end']})", "")
            for g in data["gaps"]
        ]
        for row in sorted(items, key=lambda r: r[1]):
            table.add_row(*row)
        out.out.print(table)
        if t.state and t.state.get("running"):
            out.say(
                f"archiver: running, through {t.state.get('position')}, {t.state.get('exposure_s', 0)}s behind "
                f"the source (lag {t.state.get('lag_s', 0)}s measured {t.state.get('age_s')}s ago)"
            )
        elif t.state:
            out.say(
                f"archiver: STOPPED; it archived through {t.state.get('position')}, last seen "
                f"{t.state.get('updated_at')} ({t.state.get('age_s')}s ago): restart lifeboat stream"
            )
        for f in data["foreign_bases"]:
            out.say(
                f"base backup {f['backup_id']} is NOT of this history ({f['reason']}): "
                "it restores as itself, never as the base of a point-in-time restore"
            )
        out.say(data["verdict"])

    out.result(data, render)


@click.command()
@repo_option
@deployment_option
@click.option("--since", default=None, metavar="SECONDS:INC", help="Only events at or after this position.")
@click.option(
    "--ns", "ns_patterns", multiple=True, metavar="PATTERN", help="Only these namespaces (wildcard *)."
)
@click.option(
    "--min-docs", type=click.IntRange(1), default=100, show_default=True, help="Bulk threshold (documents)."
)
@click.option(
    "--window-seconds",
    type=FiniteFloat(0.1),
    default=None,
    help="Split an operation's uninterrupted run at a pause longer than this (default: never; a "
    "loaded machine pauses an operation for any length of time).",
)
@json_option
@app
def incidents(
    ctx: Session,
    repo: str | None,
    deployment: str | None,
    since: str | None,
    ns_patterns: tuple[str, ...],
    min_docs: int,
    window_seconds: float | None,
) -> None:
    """Find drops, dropped databases, renames over collections, bulk deletes and updates."""
    out = ctx.output
    repository = open_repository(ctx, repo, every=True)
    history = load_history(repository, deployment)
    nsmap = NamespaceMap.build(include=ns_patterns) if ns_patterns else None
    found = scan_incidents(
        repository,
        history,
        parse_position(since) if since else None,
        nsmap.selected if nsmap else None,
        min_docs,
        window_seconds if window_seconds is not None else math.inf,
    )
    data = []
    for incident in found:
        described = {
            **incident_document(repository.storage, history, incident),
            "restore_with": f"lifeboat restore --to {incident.id}",
            "undo_with": f"lifeboat undo {incident.id}",
        }
        data.append(described)

    def render() -> None:
        if not found:
            out.say("no destructive events found in the archived oplog")
        for i in data:
            size = f"{i['count']:>8} docs"
            if "dropped" in i:
                d = i["dropped"]
                docs = "?" if d["documents"] is None else d["documents"]
                size = f"{docs:>8} docs, {len(d['indexes'])} indexes"
            out.say(
                f"{i['id']}  {i['wall']}  {i['kind']:<12} {i['ns']:<40} {size}   -> {i['restore_with']}  |  {i['undo_with']}"
            )

    out.result(data, render)
