"""What every command shares: its options, one definition each, and the session it is given."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from ..errors import UsageError
from ..repo.manifest import Manifest
from ..repo.repository import Repository
from ..session import Session

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloat(click.FloatRange):
    """click's FloatRange, refusing what compares as nothing: ``nan``, and ``inf`` or a number
    too large to be one (``1e400``). A ``nan`` passes every range check, so it must be named."""

    name = "finite number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")(
        f
    )


# Options shared by several commands: one definition each, so help and defaults agree.
repo_option = click.option(
    "--repo",
    metavar="URL|NAME",
    help="Repository URL (file:///path), or a repository name in the plan. Env: LIFEBOAT_REPO.",
)
source_option = click.option(
    "--source", metavar="URI", help="MongoDB URI of the replica set. Env: LIFEBOAT_SOURCE_URI."
)
member_option = click.option(
    "--member",
    default=None,
    metavar="auto|primary|secondary|HOST:PORT",
    help="Member to read from (default auto: hidden > healthy secondary > primary).",
)
capture_option = click.option(
    "--capture",
    type=click.Choice(["oplog", "change-stream", "auto"]),
    default=None,
    help="Read history from the oplog, a change stream (no read on local.oplog.rs needed), or "
    "auto: the oplog where this user may read it (default: [deployment] capture, oplog).",
)
deployment_option = click.option(
    "--deployment", default=None, help="Replica set name (when the repository holds several)."
)
store_as_option = click.option(
    "--deployment",
    default=None,
    metavar="NAME",
    help="The name this deployment is kept under in the repository (default: [deployment] key, else its "
    "replica set name); sets two replica sets of one name apart.",
)


def parse_listen(listen: str, example: str) -> tuple[str, int]:
    """``--listen HOST:PORT`` (an empty host is loopback); a usage error with ``example`` else."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise UsageError(f"--listen {listen}: not HOST:PORT", f"e.g. --listen {example}")
    return host.strip("[]") or "127.0.0.1", int(port)


def app(f: F) -> F:
    """Pass the Session (with --json applied) as the first argument."""

    @wraps(f)
    @click.pass_obj
    def wrapper(obj: Session, *args: Any, **kwargs: Any) -> Any:
        if kwargs.pop("as_json", False):
            obj.output.json_mode = True
        return f(obj, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def group_session(click_ctx: click.Context, as_json: bool) -> Session | None:
    """A group that is a command of its own as well (``drill``, ``snapshot``): its session,
    with --json applied, when it runs itself; None when one of its subcommands runs."""
    if click_ctx.invoked_subcommand is not None:
        return None
    session: Session = click_ctx.obj
    if as_json:
        session.output.json_mode = True
    return session


def warn_skipped_damage(ctx: Session, repository: Repository, asked: str, manifest: Manifest) -> None:
    """``latest`` never silently passes over a newer backup that is damaged: name it."""
    if asked != "latest":
        return
    for b in repository.damaged_after(manifest):
        ctx.output.warn(
            f"the newest backup {b.backup_id} is damaged ({b.damaged}); using {manifest.backup_id}. "
            "Repair it with lifeboat repair --from URL, or delete it"
        )
