"""mount, mount list, mount stop: any moment served read-only on loopback."""

from __future__ import annotations

from typing import Any

import click

from .. import config
from ..catalog.points import Point
from ..errors import UsageError
from ..past.mounts import Mount, list_mounts, start_mount, stop_mount
from ..session import Session
from ..session.repositories import open_repository
from .options import app, deployment_option, group_session, json_option, repo_option


def _line(m: Mount) -> str:
    hours, rest = divmod(int(m.seconds_left), 3600)
    return (
        f"{m.id}  {m.uri}  state at {m.restored_to} ({m.describe()['restored_to_wall']})  "
        f"{', '.join(m.namespaces) or 'every namespace'}  {hours}h{rest // 60:02d}m left"
    )


@click.group(invoke_without_command=True)
@click.option(
    "--to", "to", default=None, metavar="T", help="The moment to serve (default: the latest restorable)."
)
@click.option("--ns-include", multiple=True, metavar="PATTERN", help="Only these namespaces (wildcard *).")
@click.option(
    "--ttl", default="24h", show_default=True, metavar="DURATION", help="Stop serving after this long."
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Loopback port (default: a free one)."
)
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Parallel loaders (default 4).")
@repo_option
@deployment_option
@json_option
@click.pass_context
def mount(
    click_ctx: click.Context,
    to: str | None,
    ns_include: tuple[str, ...],
    ttl: str,
    port: int | None,
    jobs: int | None,
    repo: str | None,
    deployment: str | None,
    as_json: bool,
) -> None:
    """Serve a moment read-only on loopback: a MongoDB URI any driver, mongosh or Compass opens."""
    ctx = group_session(click_ctx, as_json)
    if ctx is None:
        return
    try:
        ttl_s = config.parse_duration(ttl)
    except ValueError as e:
        raise UsageError(f"--ttl {ttl}: {e}", "write it as 30m, 24h or 7d") from e
    point = Point.parse(to) if to is not None else None
    repository = open_repository(ctx, repo, every=True)
    ctx.output.note(f"restoring {to or 'the latest moment'} into a scratch server to mount it ...")
    m = start_mount(repository, point, deployment, ns_include, ttl_s, port, jobs or ctx.plan.restore.jobs)
    data: dict[str, Any] = m.describe()

    def render() -> None:
        how = "already mounted (one restore, shared)" if m.shared else f"mounted {m.documents} documents"
        ctx.output.say(f"{how}: read-only until {m.expires_at}; stop it with: lifeboat mount stop {m.id}")
        ctx.output.say(m.uri)

    ctx.output.result(data, render, reveal=(m.uri,))


@mount.command("list")
@repo_option
@json_option
@app
def mount_list(ctx: Session, repo: str | None) -> None:
    """The mounts being served now, with their URIs and time left (with --repo: of that
    repository only)."""
    mounts = list_mounts()
    if repo is not None:
        repo_id = str(open_repository(ctx, repo).info.get("repo_id"))
        mounts = [m for m in mounts if m.repo_id == repo_id]

    def render() -> None:
        for m in mounts:
            ctx.output.say(_line(m))
        if not mounts:
            ctx.output.say("no mounts running")

    ctx.output.result([m.describe() for m in mounts], render, reveal=tuple(m.uri for m in mounts))


@mount.command("stop")
@click.argument("mount_id", metavar="ID")
@json_option
@app
def mount_stop(ctx: Session, mount_id: str) -> None:
    """Stop serving a mount and delete its data."""
    m = stop_mount(mount_id)
    ctx.output.result({"stopped": m.id}, lambda: ctx.output.say(f"stopped {m.id}; its data is deleted"))
