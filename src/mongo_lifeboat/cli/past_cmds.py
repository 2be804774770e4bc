"""history, diff: looking into the past without restoring."""

from __future__ import annotations

import json
import math
from typing import Any

import click
from bson import Timestamp

from .. import config
from ..catalog.dropped import incident_document
from ..catalog.history import History, load_history
from ..catalog.points import Point, resolve
from ..ejson import to_relaxed
from ..errors import UsageError
from ..mongo.client import connect
from ..mongo.nsmap import NamespaceMap
from ..past.diff import changes_between
from ..past.history import document_history, require_found
from ..past.ids import parse_id
from ..repo.storage import Storage
from ..session import Session
from ..session.repositories import open_repository
from ..timestamps import just_after, to_str, wall_of
from .options import app, deployment_option, json_option, repo_option, source_option


def _moment(text: str | None, history: History, storage: Storage) -> Timestamp | None:
    """A moment as restore takes it (a time, a position, an incident id); ``latest`` is no bound.
    A time is the first position of its second (nothing is read to place it)."""
    if text is None:
        return None
    point = Point.parse(text)
    if point.kind == "latest":
        return None
    if point.kind == "time":
        assert point.when is not None
        return Timestamp(math.ceil(point.when.timestamp()), 0)
    return resolve(point, history, storage)


@click.command()
@click.argument("ns")
@click.argument("doc_id", metavar="ID")
@click.option("--since", default=None, metavar="T", help="Start at this moment (default: the oldest base).")
@click.option(
    "--until", default=None, metavar="T", help="Stop before this moment (default: the newest entry)."
)
@click.option("--diff", is_flag=True, help="Show what each change did, not the whole document after it.")
@click.option(
    "--live/--archive-only",
    default=True,
    show_default=True,
    help="Also read the source's oplog beyond the archive (when a source is configured).",
)
@source_option
@repo_option
@deployment_option
@json_option
@app
def history(
    ctx: Session,
    ns: str,
    doc_id: str,
    since: str | None,
    until: str | None,
    diff: bool,
    live: bool,
    source: str | None,
    repo: str | None,
    deployment: str | None,
) -> None:
    """Every version of one document: its state in a base backup, then each change archived."""
    out = ctx.output
    wanted = parse_id(doc_id)
    repository = open_repository(ctx, repo, every=True)
    past = load_history(repository, deployment)
    start, end = _moment(since, past, repository.storage), _moment(until, past, repository.storage)
    uri = config.source_uri(source, ctx.plan) if live else None
    client = connect(uri, role="source", timeout_ms=config.timeout_ms(ctx.plan)) if uri else None
    try:
        found = document_history(repository.storage, past, ns, wanted, start, end, client)
    finally:
        if client is not None:
            client.close()
    require_found(found, past)
    data: dict[str, Any] = {**found.describe(diff), "live_oplog_read": client is not None}
    versions = data["versions"]

    def render() -> None:
        out.say(
            f"{ns} {doc_id}: {len(versions)} version(s), from base backup {found.base}"
            + ("" if client is not None else " (the archive only: no live oplog read)")
        )
        rows = [(v["ts"], _line(v)) for v in versions]
        rows += [
            (g["start"], f"{g['start_wall']}  GAP until {g['end_wall']}: changes in it are unknown")
            for g in data["gaps"]
        ]
        for _, line in sorted(rows, key=lambda r: _order(r[0])):
            out.say(line)

    out.result(data, render)


def _order(position: str) -> tuple[int, int]:
    seconds, _, inc = position.partition(":")
    return int(seconds), int(inc or 0)


def _line(v: dict[str, Any]) -> str:
    notes = [f"incident {v['incident']}"] if v.get("incident") else []
    notes += ["in a transaction"] if v.get("transaction") else []
    notes += ["NOT ARCHIVED YET"] if not v["archived"] else []
    notes += ["after a gap"] if v.get("after_gap") else []
    what = v["changes"] if "changes" in v else v["document"]
    shown = "(none)" if what is None else json.dumps(what, ensure_ascii=False)
    extra = f"  [{', '.join(notes)}]" if notes else ""
    return f"{v['wall']:<24}  {v['ts']:<16} {v['kind']:<12} {v['ns']}  {shown}{extra}"


@click.command("diff")
@click.option(
    "--from", "since", required=True, metavar="T", help="From this moment (a time, a position, an incident)."
)
@click.option(
    "--to",
    "until",
    default="latest",
    show_default=True,
    metavar="T",
    help="Up to (not including) this moment.",
)
@click.option("--ns-include", multiple=True, metavar="PATTERN", help="Only these namespaces (wildcard *).")
@click.option("--ids", is_flag=True, help="List the _id of every document inserted, updated or deleted.")
@repo_option
@deployment_option
@json_option
@app
def diff(
    ctx: Session,
    since: str,
    until: str,
    ns_include: tuple[str, ...],
    ids: bool,
    repo: str | None,
    deployment: str | None,
) -> None:
    """What changed between two moments, per namespace, from the archived oplog alone."""
    out = ctx.output
    repository = open_repository(ctx, repo, every=True)
    past = load_history(repository, deployment)
    start = _moment(since, past, repository.storage)
    end = _moment(until, past, repository.storage) or just_after(past.timeline.archived_to or Timestamp(0, 0))
    if start is None or start >= end:
        raise UsageError(f"--from {since} is not before --to {until}", "give --from a moment before --to")
    selected = NamespaceMap.build(include=ns_include).selected if ns_include else None
    found = changes_between(repository.storage, past, start, end, selected)
    namespaces: dict[str, Any] = {}
    for ns, changes in found.namespaces.items():
        documents = changes.classified()
        entry: dict[str, Any] = {kind: len(docs) for kind, docs in documents.items()}
        entry.update(changes.ddl)
        if ids:
            entry["ids"] = {kind: to_relaxed(docs) for kind, docs in documents.items() if docs}
        namespaces[ns] = entry
    data: dict[str, Any] = {
        "from": to_str(start),
        "from_wall": wall_of(start),
        "to": to_str(end),
        "to_wall": wall_of(end),
        "namespaces": namespaces,
        "incidents": [incident_document(repository.storage, past, i) for i in found.incidents],
        "gaps": [
            {"start": to_str(a), "end": to_str(b), "start_wall": wall_of(a), "end_wall": wall_of(b)}
            for a, b in found.gaps
        ],
        "segments_read": found.segments_read,
    }

    def render() -> None:
        out.say(f"changes from {data['from_wall']} ({data['from']}) to {data['to_wall']} ({data['to']}):")
        if not namespaces:
            out.say("  nothing archived changed")
        for ns, entry in namespaces.items():
            counts = ", ".join(
                f"{entry[k]} {k}" for k in ("inserted", "updated", "deleted", "transient") if entry[k]
            )
            ddl = "; ".join(
                f"{k.replace('_', ' ')}: {', '.join(map(_named, v))}" for k, v in changes_ddl(entry).items()
            )
            out.say(f"  {ns}: {'; '.join(x for x in (counts, ddl) if x)}")
            for kind, listed in entry.get("ids", {}).items():
                out.say(f"    {kind}: {json.dumps(listed, ensure_ascii=False)}")
        for i in data["incidents"]:
            took = f"{i['count']} docs"
            if "dropped" in i:
                docs = "?" if i["dropped"]["documents"] is None else i["dropped"]["documents"]
                took = f"{docs} docs, {len(i['dropped']['indexes'])} indexes"
            out.say(f"  incident {i['id']}  {i['wall']}  {i['kind']} {i['ns']} ({took})")
        for g in data["gaps"]:
            out.say(
                f"  GAP {g['start_wall']} .. {g['end_wall']}: not in the archive; what changed in it is unknown"
            )

    out.result(data, render)


def _named(value: Any) -> str:
    """A DDL change for people: a name, or where a rename went (came from)."""
    if isinstance(value, dict):
        return " ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def changes_ddl(entry: dict[str, Any]) -> dict[str, Any]:
    skip = {"inserted", "updated", "deleted", "transient", "ids"}
    return {k: v for k, v in entry.items() if k not in skip}
