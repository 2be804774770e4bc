"""Base backups: take one, list them, show one."""

from __future__ import annotations

from typing import Any, cast

import click

from .. import config
from ..backup.service import BackupOptions, run_backup
from ..events import Update
from ..json_documents import backups_document, manifest_summary
from ..oplog.capture.sources import Capture
from ..output import DocumentProgress
from ..repo.manifest import Manifest
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import event, failure_signalled, sinks_for
from ..timestamps import wall_of
from .options import (
    app,
    capture_option,
    human_bytes,
    json_option,
    member_option,
    repo_option,
    source_option,
    store_as_option,
    warn_skipped_damage,
)


def _collections(m: Manifest) -> list[dict[str, Any]]:
    return [
        {
            "ns": c.ns,
            "type": c.type,
            "documents": c.documents,
            "bytes": c.raw_bytes,
            "files": len(c.files),
            "indexes": len(c.indexes),
        }
        for c in m.collections
    ]


@click.command()
@source_option
@repo_option
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Collections exported in parallel (default 4).",
)
@member_option
@click.option(
    "--chunk-mb",
    type=click.IntRange(1, 4096),
    default=None,
    help="Uncompressed MiB per data file (default 64).",
)
@capture_option
@store_as_option
@json_option
@app
def backup(
    ctx: Session,
    source: str | None,
    repo: str | None,
    jobs: int | None,
    member: str | None,
    chunk_mb: int | None,
    capture: str | None,
    deployment: str | None,
) -> None:
    """Take a consistent base backup (history captured around the dump)."""
    plan = ctx.plan
    repository = open_repository(ctx, repo, every=True)
    opts = BackupOptions(
        source_uri=config.require_source(source, plan),
        member=config.member(member, plan),
        deployment=config.deployment_key(deployment, plan),
        jobs=jobs or plan.backup.jobs,
        chunk_bytes=(chunk_mb or plan.backup.chunk_mb) << 20,
        timeout_ms=config.timeout_ms(plan),
        capture=cast(Capture, capture or plan.deployment.capture),  # click's choices are the plan's
    )
    out = ctx.output
    sinks = sinks_for(ctx, repository, None)
    bar: DocumentProgress | None = None
    repository.check_writable()  # a repository that is down now is a warning event

    def show(u: Update) -> None:
        nonlocal bar
        if u.kind == "phase" and u.name == "export":
            expected = f"~{u.total} documents (as last time)" if u.total else "(first backup: no ETA)"
            out.note(f"backup {u.message}: exporting {expected}")
            bar = DocumentProgress(out, "exporting", u.total)
        elif u.kind == "notice" and u.name == "skipped":
            out.warn(f"{u.ns} is left out of the backup: {u.message}")
        elif u.kind == "progress" and bar:
            bar.advance(u.done, u.bytes)
        elif u.kind == "phase" and u.name == "bracket":
            if bar:
                bar.close()
            out.note(
                f"backup: export done; closing the bracket ({u.message} so far) and writing the manifest"
            )

    try:
        with failure_signalled(ctx, sinks, "backup", None, repository.url):
            m = run_backup(repository, opts, ctx.reporter(show))
    finally:
        if bar:
            bar.close()
    data = {**manifest_summary(m), "collections": _collections(m)}
    written = repository.member_outcomes()
    missed = [name for name, outcome in written.items() if outcome != "complete"]
    if m.skipped:
        data["skipped"] = [s.model_dump() for s in m.skipped]
    if written:
        data["repositories"] = written
    summary = f"backup {m.backup_id} complete: {m.documents} documents, consistent at {m.end_ts}"
    sinks.emit(
        event(
            ctx,
            "backup",
            "warning" if missed or m.skipped else "success",
            m.deployment,
            repository.url,
            summary
            + (f"; NOT in repository {', '.join(missed)} (it was down)" if missed else "")
            + (f"; LEFT OUT: {', '.join(s.ns for s in m.skipped)}" if m.skipped else ""),
            backup_id=m.backup_id,
            duration_s=m.duration_s,
            stored_bytes=m.stored_bytes,
            repositories=written,
        )
    )
    out.result(
        data,
        lambda: out.say(
            f"backup {m.backup_id} complete: {m.documents} documents in {len(m.collections)} namespaces, "
            f"{human_bytes(data['bytes'])} ({human_bytes(m.stored_bytes)} stored) in {m.duration_s:.1f}s; "
            f"consistent at {m.end_ts} ({wall_of(m.end)}), from {m.member}; history captured from "
            + ("a change stream" if m.oplog.capture == "change-stream" else "the oplog")
            + (f" (chosen by --capture {opts.capture})" if opts.capture == "auto" else "")
        ),
    )


@click.command(name="list")
@repo_option
@json_option
@app
def list_backups(ctx: Session, repo: str | None) -> None:
    """List backups, complete and incomplete."""
    repository = open_repository(ctx, repo, every=True)
    document = backups_document(repository)
    rows: list[dict[str, Any]] = document["backups"]

    def render() -> None:
        from rich.table import Column, Table
        from rich.text import Text

        if not rows:
            ctx.output.say(f"no backups in {repository.url}")
            return
        # The id is what restore needs: never cut. A narrow terminal drops the columns that
        # matter least (in this order of importance) rather than squeezing them unreadable.
        cells = [
            {
                "backup": r["backup_id"],
                "status": {
                    "complete": "complete",
                    "running": "[cyan]running[/cyan]",
                    "damaged": "[bold red]DAMAGED[/bold red]",
                }.get(r["status"], "[red]incomplete[/red]"),
                "consistent at": f"{r['end_ts']} ({r['consistent_at']['wall']})" if "end_ts" in r else "-",
                "documents": str(r["documents"]) if "documents" in r else "-",
                "stored": human_bytes(r["stored_bytes"]) if "stored_bytes" in r else "-",
                "deployment": r["deployment"],
                "took": f"{r['duration_s']:.1f}s" if "duration_s" in r else "-",
                "member": r.get("member", "-"),
            }
            for r in rows
        ]
        order = ["backup", "status", "consistent at", "documents", "stored", "deployment", "took", "member"]
        shown, used = [], 1
        for name in order:
            need = max(len(name), *(len(Text.from_markup(c[name]).plain) for c in cells)) + 3
            if used + need > ctx.output.out.width and name != "backup":
                break
            shown.append(name)
            used += need
        t = Table(*(Column(name, no_wrap=True) for name in shown))
        for c in cells:
            t.add_row(*(c[name] for name in shown))
        ctx.output.out.print(t)
        for r in rows:
            if r.get("damage"):
                ctx.output.say(
                    f"{r['backup_id']} is damaged: {r['damage']} (lifeboat delete {r['backup_id']} --force removes it)"
                )

    ctx.output.result(document, render)


@click.command()
@click.argument("backup_id")
@repo_option
@json_option
@app
def info(ctx: Session, backup_id: str, repo: str | None) -> None:
    """Details of one backup (or 'latest')."""
    repository = open_repository(ctx, repo, every=True)
    m = repository.resolve(backup_id)
    warn_skipped_damage(ctx, repository, backup_id, m)
    data = {**manifest_summary(m), "collections": _collections(m)}

    def render() -> None:
        say = ctx.output.say
        say(f"backup {m.backup_id} of {m.deployment}: complete")
        say(
            f"  consistent at  {m.end_ts} ({wall_of(m.end)}); oplog bracket {m.start_ts} .. {m.end_ts} ({m.oplog.entries} entries)"
        )
        say(f"  taken          {m.started_at} .. {m.finished_at} ({m.duration_s:.1f}s) from {m.member}")
        say(f"  server         MongoDB {m.server_version} (FCV {m.fcv or '?'})")
        if m.imported_from:
            origin = m.imported_from
            oplog = "with oplog.bson" if origin.has_oplog else "without oplog (not a point-in-time base)"
            say(
                f"  imported       {origin.format}{' (gzip)' if origin.gzip else ''} {origin.path}, {oplog}, "
                f"on {origin.imported_at}"
            )
        say(
            f"  size           {m.documents} documents, {human_bytes(data['bytes'])}, {human_bytes(m.stored_bytes)} stored"
        )
        for c in data["collections"]:
            say(f"  {c['ns']:<50} {c['type']:<10} {c['documents']:>10} docs {c['indexes']:>3} indexes")

    ctx.output.result(data, render)
