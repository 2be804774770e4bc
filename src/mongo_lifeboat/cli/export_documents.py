"""export --format jsonl|csv: one namespace at a moment, as documents."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..catalog.points import Point
from ..ejson import loads, to_relaxed
from ..errors import UsageError
from ..past.documents import fields_of, restored_moment, write_csv, write_jsonl
from ..session import Session
from ..session.repositories import open_repository
from ..timestamps import parse_position, wall_of

DOCUMENT_FORMATS = ("jsonl", "csv")


def export_documents(
    ctx: Session,
    backup_id: str,
    to: str | None,
    fmt: str,
    out: str,
    ns: str | None,
    query: str | None,
    fields: str | None,
    canonical: bool,
    gz: bool,
    repo: str | None,
    deployment: str | None,
) -> None:
    output = ctx.output
    if not ns or "." not in ns:
        raise UsageError(f"--format {fmt} exports one namespace", "name it with --ns db.collection")
    if gz or (fields and fmt != "csv") or (canonical and fmt != "jsonl"):
        raise UsageError("--gzip is for mongodump formats, --fields for csv, --canonical for jsonl")
    if out != "-" and Path(out).exists():
        raise UsageError(f"{out} exists already", "give a new path (nothing is overwritten)")
    filter_ = _filter(query)
    point = Point.parse(to) if to is not None else None  # said before anything is opened
    repository = open_repository(ctx, repo, every=True)
    db, coll = ns.split(".", 1)
    with restored_moment(repository, backup_id, point, deployment, (ns,), ctx.plan.restore.jobs) as (
        client,
        report,
    ):
        collection = client[db][coll]
        with _opened(out) as sink:
            if fmt == "jsonl":
                written = write_jsonl(collection.find(filter_), sink, canonical)
            else:
                columns = fields.split(",") if fields else fields_of(collection.find(filter_))
                written = write_csv(collection.find(filter_), sink, columns)
    data = {
        "ns": ns,
        "format": fmt,
        "query": to_relaxed(filter_),
        "documents": written,
        "backup_id": report.backup_id,
        "restored_to": report.restored_to,
        "restored_to_wall": wall_of(parse_position(report.restored_to)),
        "out": out,
    }
    say = output.note if out == "-" else output.say  # stdout carries the documents
    output.result(
        data,
        lambda: say(
            f"exported {written} documents of {ns} as they were at {data['restored_to']} "
            f"({data['restored_to_wall']}) to {'standard output' if out == '-' else out} ({fmt})"
        ),
    )


def _filter(query: str | None) -> dict[str, Any]:
    if not query:
        return {}
    try:
        parsed = loads(query)
    except ValueError as e:
        raise UsageError(f"--query is not JSON: {e}", """e.g. --query '{"status": "paid"}'""") from e
    if not isinstance(parsed, dict):
        raise UsageError("--query must be a JSON object (a filter)", """e.g. --query '{"qty": {"$gt": 5}}'""")
    return parsed


@contextlib.contextmanager
def _opened(out: str) -> Iterator[TextIO]:
    if out == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = Path(out + ".partial")  # complete under its name, or not there at all
    with partial.open("w", encoding="utf-8", newline="") as f:
        yield f
    partial.rename(out)
