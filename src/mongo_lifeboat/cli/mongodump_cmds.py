"""import-mongodump, export: to and from what mongodump writes and mongorestore reads."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..catalog.points import Point
from ..errors import UsageError
from ..json_documents import manifest_summary
from ..mongo.nsmap import NamespaceMap
from ..mongodump.exporter import FORMATS, ExportSource, export_archive, export_directory
from ..mongodump.importer import DEFAULT_JOBS, import_dump
from ..output import DocumentProgress
from ..restore.pitr import choose_restore
from ..session import Session
from ..session.repositories import open_repository
from ..timestamps import parse_position, wall_of
from .export_documents import DOCUMENT_FORMATS, export_documents
from .options import app, deployment_option, json_option, repo_option

DEFAULT_DEPLOYMENT = "mongodump"


@click.command(name="import-mongodump")
@click.argument("path")
@repo_option
@click.option(
    "--deployment",
    default=DEFAULT_DEPLOYMENT,
    show_default=True,
    help="Deployment (replica set name) the backup belongs to; name your live one to join its timeline.",
)
@click.option("--db", default=None, help="PATH is one database's directory, or one .bson file: its database.")
@click.option(
    "--collection", default=None, help="PATH is one .bson file: its collection (default: the file name)."
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help=f"Processes checking documents (default {DEFAULT_JOBS}).",
)
@json_option
@app
def import_mongodump(
    ctx: Session,
    path: str,
    repo: str | None,
    deployment: str,
    db: str | None,
    collection: str | None,
    jobs: int | None,
) -> None:
    """Import a mongodump directory or archive (plain or gzip; - reads an archive from stdin)
    as a base backup; its oplog.bson becomes the backup's oplog bracket."""
    out = ctx.output
    repository = open_repository(ctx, repo, every=True)
    repository.check_writable()
    bar = DocumentProgress(out, "importing", 0)
    try:
        report = import_dump(
            repository,
            path,
            deployment,
            db=db,
            collection=collection,
            jobs=jobs or DEFAULT_JOBS,
            on_progress=lambda ns, d, b: bar.advance(d, b),
        )
    finally:
        bar.close()
    m = report.manifest
    for w in report.warnings:
        out.warn(w)
    for s in report.skipped:
        out.note(f"skipped {s}")
    data = {
        **manifest_summary(m),
        "collections": [
            {"ns": c.ns, "type": c.type, "documents": c.documents, "indexes": len(c.indexes)}
            for c in m.collections
        ],
        "skipped": report.skipped,
        "warnings": report.warnings,
    }
    consistency = (
        f"consistent at {m.end_ts} ({wall_of(m.end)}), the last oplog.bson entry"
        if m.point_in_time_base
        else "taken without --oplog: restorable as it is, not a base for point-in-time restore"
    )
    out.result(
        data,
        lambda: out.say(
            f"imported {path} as backup {m.backup_id} of {m.deployment}: {m.documents} documents in "
            f"{len(m.collections)} namespaces, {m.oplog.entries} oplog entries; {consistency}"
        ),
    )


@click.command(name="export")
@click.argument("backup_id", default="latest")
@click.option("--to", "to", default=None, metavar="T", help="Point in time (exclusive), as for restore --to.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, *DOCUMENT_FORMATS)),
    required=True,
    help="mongodump directory or archive; or one namespace's documents as JSON lines or CSV.",
)
@click.option(
    "--out",
    required=True,
    metavar="PATH",
    help="Where to write (a new path; - for stdout: an archive, jsonl, csv).",
)
@click.option("--gzip", "gz", is_flag=True, help="Compress as mongodump --gzip does.")
@click.option("--ns", default=None, metavar="DB.COLL", help="jsonl/csv: the namespace to export.")
@click.option(
    "--query", default=None, metavar="JSON", help="jsonl/csv: only the documents this filter matches."
)
@click.option(
    "--fields", default=None, metavar="A,B.C", help="csv: the columns (default: every top-level field)."
)
@click.option(
    "--canonical", is_flag=True, help="jsonl: canonical Extended JSON (every number type kept exactly)."
)
@repo_option
@deployment_option
@json_option
@app
def export(
    ctx: Session,
    backup_id: str,
    to: str | None,
    fmt: str,
    out: str,
    gz: bool,
    ns: str | None,
    query: str | None,
    fields: str | None,
    canonical: bool,
    repo: str | None,
    deployment: str | None,
) -> None:
    """Write BACKUP_ID (default: latest), or the state at --to T, as mongodump output (then:
    mongorestore --oplogReplay), or one namespace as JSON lines or CSV."""
    output = ctx.output
    if fmt in DOCUMENT_FORMATS:
        export_documents(ctx, backup_id, to, fmt, out, ns, query, fields, canonical, gz, repo, deployment)
        return
    if ns or query or fields or canonical:
        raise UsageError(f"--ns, --query, --fields and --canonical are for --format jsonl or csv, not {fmt}")
    if out == "-" and fmt != "mongodump-archive":
        raise UsageError(
            "only an archive can go to standard output", "use --format mongodump-archive with --out -"
        )
    point = Point.parse(to) if to is not None else None  # said before anything is opened
    repository = open_repository(ctx, repo, every=True)
    plan, pitr = choose_restore(repository, backup_id, point, deployment, NamespaceMap.build((), (), (), ()))
    source = ExportSource(
        repository.storage,
        plan.manifest,
        tuple(pitr.segments) if pitr else (),
        pitr.stop_before if pitr else None,
    )
    bar = DocumentProgress(output, "exporting", plan.manifest.documents)
    try:
        if fmt == "mongodump-dir":
            report = export_directory(source, Path(out), gz, lambda ns, d, b: bar.advance(d, b))
        else:
            report = export_archive(source, out, gz, lambda ns, d, b: bar.advance(d, b))
    finally:
        bar.close()
    data = {
        **asdict(report),
        "restore_to_wall": wall_of(parse_position(report.restore_to)),
        "mongorestore": report.mongorestore,
    }
    where = "standard output" if out == "-" else out
    say = output.note if out == "-" else output.say  # stdout carries the archive
    output.result(
        data,
        lambda: say(
            f"exported backup {report.backup_id} to {where} ({fmt}{', gzip' if gz else ''}): "
            f"{report.documents} documents in {report.collections} namespaces, {report.oplog_entries} oplog "
            f"entries; state at {report.restore_to} ({data['restore_to_wall']}); restore it with: "
            f"{report.mongorestore}"
        ),
    )
