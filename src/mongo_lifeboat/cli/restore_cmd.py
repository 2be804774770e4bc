"""restore."""

from __future__ import annotations

from dataclasses import asdict

import click

from .. import config
from ..catalog import snapshots as snapshots
from ..catalog.points import Point
from ..errors import UsageError
from ..events import Update
from ..mongo.client import connect, describe
from ..mongo.nsmap import NamespaceMap, target_problem
from ..output import DocumentProgress
from ..repo.repository import Repository
from ..restore.pitr import choose_restore
from ..restore.plan import AUTH_NAMESPACES, RestorePlan
from ..restore.service import RestoreOptions, check_target, run_restore
from ..session import Session
from ..session.repositories import open_repository
from ..snapshot.restore import roll_forward
from ..timestamps import parse_position, wall_of
from .options import app, deployment_option, human_bytes, json_option, repo_option, warn_skipped_damage

# What each phase is doing, for the person watching (every phase can take a while).
_PHASES = {
    "verify": "verify: checking every object it needs against its checksum",
    "prepare": "prepare: checking the target, creating collections",
    "prepare-drop": "prepare: dropping the restored namespaces on the target (--drop), creating collections",
    "load": "load: inserting documents",
    "views": "views: creating views",
    "replay": "replay: applying the oplog",
    "indexes": "indexes: building indexes",
    "users": "users: restoring users and roles",
}


def _check_targets(plan: RestorePlan, allow_empty: bool) -> None:
    for task in [*plan.collections, *plan.views]:
        problem = target_problem(task.target_ns, renamed=task.target_ns != task.source_ns)
        if problem is not None:
            raise UsageError(
                f"cannot restore {task.source_ns} into {task.target_ns!r}: {problem}",
                "choose another --ns-to; nothing was written",
            )
    if not plan.collections and not plan.views and not plan.nsmap.is_identity and not allow_empty:
        dbs = sorted({c.db for c in plan.manifest.collections if c.ns not in AUTH_NAMESPACES})
        raise UsageError(
            f"the namespace filters match nothing in backup {plan.manifest.backup_id}; its databases: "
            f"{', '.join(dbs) or 'none'}",
            "check --ns-include/--ns-exclude (DB.COLLECTION, * as a wildcard), or pass --allow-empty",
        )


@click.command()
@click.argument("backup_id", default="latest")
@click.option("--target", metavar="URI", help="MongoDB URI to restore into. Env: LIFEBOAT_TARGET_URI.")
@repo_option
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Parallel loaders (default 4).")
@click.option(
    "--ns-include", multiple=True, metavar="PATTERN", help="Only these namespaces (wildcard *; repeatable)."
)
@click.option("--ns-exclude", multiple=True, metavar="PATTERN", help="Not these namespaces (repeatable).")
@click.option(
    "--ns-from", multiple=True, metavar="PATTERN", help="Rename from (pairs with --ns-to, in order)."
)
@click.option("--ns-to", multiple=True, metavar="PATTERN", help="Rename to.")
@click.option("--drop", is_flag=True, help="Drop the restored namespaces on the target first (only those).")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--allow-empty", is_flag=True, help="Succeed even when the namespace filters match nothing.")
@click.option("--verify-first", is_flag=True, help="Check every object before writing anything.")
@click.option("--with-users", is_flag=True, help="Also restore users and roles.")
@click.option(
    "--index-builds",
    type=click.Choice(["after-replay", "during-load"]),
    default="after-replay",
    show_default=True,
    help="When indexes are built: all after the replay, or each collection's as soon as it is "
    "loaded where the replay cannot change it (measure first: slower on SecantusDB).",
)
@click.option(
    "--to",
    "to",
    default=None,
    metavar="T",
    help="Point in time (exclusive): ISO-8601 UTC, seconds:increment, an incident id, or latest.",
)
@click.option(
    "--base",
    default=None,
    metavar="snapshot:ID",
    help="Roll a member started on a snapshot's data forward to --to (see lifeboat snapshot list).",
)
@deployment_option
@json_option
@app
def restore(
    ctx: Session,
    backup_id: str,
    target: str | None,
    repo: str | None,
    jobs: int | None,
    ns_include: tuple[str, ...],
    ns_exclude: tuple[str, ...],
    ns_from: tuple[str, ...],
    ns_to: tuple[str, ...],
    drop: bool,
    dry_run: bool,
    allow_empty: bool,
    verify_first: bool,
    with_users: bool,
    index_builds: str,
    to: str | None,
    base: str | None,
    deployment: str | None,
) -> None:
    """Restore BACKUP_ID (default: latest) into --target, consistent at its end_ts."""
    out = ctx.output
    point = Point.parse(to) if to is not None else None
    nsmap = NamespaceMap.build(ns_include, ns_exclude, ns_from, ns_to)
    if point is not None and backup_id != "latest" and base is None:
        raise UsageError("give a backup id or --to, not both", "--to picks the base backup itself")
    repository = open_repository(ctx, repo, every=True)
    if base is not None:
        if (
            not base.startswith(snapshots.PREFIX)
            or not to
            or backup_id != "latest"
            or nsmap != NamespaceMap.build()
        ):
            raise UsageError(
                "--base takes snapshot:ID with --to T, and no backup id or namespace options",
                "e.g. lifeboat restore --to 2026-11-27T03:00:00Z --base snapshot:20261127T020000Z --target URI",
            )
        assert point is not None
        _restore_from_snapshot(ctx, repository, base, point, config.target_uri(target), deployment, jobs)
        return
    plan, pitr = choose_restore(repository, backup_id, point, deployment, nsmap, with_users)
    manifest = plan.manifest
    if point is None:
        warn_skipped_damage(ctx, repository, backup_id, manifest)
    _check_targets(plan, allow_empty)  # before anything touches the target, --dry-run included
    if pitr is not None and pitr.closer_snapshot:
        out.note(
            f"restore: {pitr.closer_snapshot} is a closer base than backup {manifest.backup_id}: for a faster "
            f"restore, bring its volumes back on a member and run lifeboat restore --to {to} "
            f"--base {pitr.closer_snapshot} --target URI"
        )
    target_uri = config.target_uri(target)
    if dry_run:
        if target_uri:  # the same target checks as the real run (exit 9 where it would)
            client = connect(target_uri, role="target")
            try:
                check_target(client, plan, drop, dry_run=True)
            finally:
                client.close()
        data = {"dry_run": True, **(pitr.describe() if pitr else plan.describe())}

        def render() -> None:
            to_text = f"{data['restore_to']} ({wall_of(parse_position(data['restore_to']))})"
            base = f" from base backup {manifest.backup_id}" if pitr else f": backup {manifest.backup_id}"
            out.say(f"would restore to {to_text}{base}:")
            for c in data["collections"]:
                arrow = f" -> {c['target']}" if c["target"] != c["source"] else ""
                out.say(f"  {c['source']}{arrow}: {c['documents']} documents, {human_bytes(c['bytes'])}")
            for v in data["views"]:
                out.say(f"  view {v['source']} -> {v['target']}")
            more = (
                f" and up to {data['segment_entries_at_most']} archived ({data['segments']} segments)"
                if pitr
                else ""
            )
            out.say(
                f"  then replay {data['oplog_entries']} bracket entries{more}, and build indexes; "
                f"{human_bytes(data['stored_bytes'] + data.get('segment_bytes', 0))} to read"
            )

        out.result(data, render)
        return
    client = connect(target_uri, role="target")
    bar: DocumentProgress | None = None

    def show(u: Update) -> None:
        nonlocal bar
        if u.kind == "phase":
            if bar:
                bar.close()
                bar = None
            phase = "prepare-drop" if u.name == "prepare" and drop else u.name
            out.note(f"restore: {_PHASES.get(phase, phase)}")
        elif u.kind == "progress":
            if bar is None:
                bar = DocumentProgress(out, "loading", plan.documents)
            bar.advance(u.done, u.bytes)

    try:
        report = run_restore(
            repository,
            plan,
            client,
            RestoreOptions(
                jobs=jobs or ctx.plan.restore.jobs,
                drop=drop,
                verify_first=verify_first,
                index_builds_during_load=index_builds == "during-load",
            ),
            ctx.reporter(show),
            pitr,
        )
    finally:
        if bar:
            bar.close()
        client.close()
    for w in report.warnings:
        out.warn(w)
    data = {
        "target": describe(target_uri or ""),
        **asdict(report),
        "restored_to_wall": wall_of(parse_position(report.restored_to)),
    }
    total = sum(report.phases.values())
    out.result(
        data,
        lambda: out.say(
            f"restored backup {report.backup_id} into {data['target']}: {report.documents} documents in "
            f"{report.collections} collections, {report.views} views, {report.indexes} indexes "
            f"({report.indexes_during_load} built during the load), "
            f"{report.oplog_entries} oplog entries replayed; consistent at {report.restored_to} "
            f"({data['restored_to_wall']}) in {total:.1f}s"
        ),
    )


def _restore_from_snapshot(
    ctx: Session,
    repository: Repository,
    base: str,
    to: Point,
    target_uri: str | None,
    deployment: str | None,
    jobs: int | None,
) -> None:
    out = ctx.output
    done = roll_forward(
        repository,
        deployment,
        base,
        to,
        target_uri,
        ctx.plan.snapshot,
        jobs or ctx.plan.restore.jobs,
        out.note,
    )
    report = done.report
    data = {"target": done.target, **asdict(report), "restored_to_wall": wall_of(done.stop_before)}
    out.result(
        data,
        lambda: out.say(
            f"rolled snapshot {report.snapshot_id}'s data (at {report.data_at}) forward to {report.restored_to} "
            f"({data['restored_to_wall']}) in {data['target']}: {report.oplog_entries} oplog entries replayed"
        ),
    )
