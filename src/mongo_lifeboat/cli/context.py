"""What every command gets: output settings and the plan."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import config
from ..config import Plan, RepositorySettings
from ..errors import RepositoryError, UsageError
from ..output import Output
from ..repo.backends import open_storage
from ..repo.mirror import Member
from ..repo.repository import Repository
from ..repo.storage import Storage
from ..secrets import redact


@dataclass
class AppContext:
    output: Output
    plan: Plan
    plan_path: Path | None = None  # the file it came from (None: defaults)


F = TypeVar("F", bound=Callable[..., Any])


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")(
        f
    )


# Options shared by several commands: one definition each, so help and defaults agree.
repo_option = click.option("--repo", metavar="URL", help="Repository URL (file:///path). Env: LIFEBOAT_REPO.")
source_option = click.option(
    "--source", metavar="URI", help="MongoDB URI of the replica set. Env: LIFEBOAT_SOURCE_URI."
)
member_option = click.option(
    "--member",
    default=None,
    metavar="auto|primary|secondary|HOST:PORT",
    help="Member to read from (default auto: hidden > healthy secondary > primary).",
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


def open_repository(ctx: AppContext, repo: str | None, every: bool = False) -> Repository:
    """Every command opens its repository here: --repo, else $LIFEBOAT_REPO, else the plan's
    first; with the plan's settings for it (S3 endpoint, region, profile, storage class, key).

    ``every``: given no repository of its own, the command works on every repository of the
    plan as one (``repo.mirror``): backups and the archive are written to each, reads come
    from the first that has what is needed and passes its checksum. A repository that cannot
    be opened, or fails later, is left out with a warning and the others carry on. A named
    repository is never swapped for another."""
    url = config.repo_url(repo, ctx.plan)
    named = repo or os.environ.get("LIFEBOAT_REPO")
    if not every or named or len(ctx.plan.repository) < 2:
        return Repository.open(url, config.repository_settings(url, ctx.plan))
    members: list[Member] = []
    first: Repository | None = None
    failure: RepositoryError | None = None
    for r in ctx.plan.repository:
        settings = config.repository_settings(r.url, ctx.plan)
        try:
            opened = Repository.open(r.url, settings)
        except RepositoryError as e:
            failure = e
            ctx.output.warn(
                f"repository {r.name} ({redact(r.url)}) cannot be opened ({e.message}); going on without it"
            )
            # Kept as a member that is down: the run reports it missed, the archiver retries it.
            members.append(
                Member(
                    r.name,
                    open_storage(r.url, settings),
                    down=f"open: {e.message}",
                    reopen=functools.partial(_storage_of, r.url, settings),
                )
            )
            continue
        first = first or opened
        members.append(Member(r.name, opened.storage))
    if first is None:
        assert failure is not None
        raise failure
    repository = Repository.mirrored(members, first.info)
    assert repository.mirror is not None
    repository.mirror.listeners.append(lambda notice: ctx.output.warn(notice.message))
    return repository


def _storage_of(url: str, settings: RepositorySettings | None) -> Storage:
    return Repository.open(url, settings).storage


def parse_listen(listen: str, example: str) -> tuple[str, int]:
    """``--listen HOST:PORT`` (an empty host is loopback); a usage error with ``example`` else."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise UsageError(f"--listen {listen}: not HOST:PORT", f"e.g. --listen {example}")
    return host.strip("[]") or "127.0.0.1", int(port)


def app(f: F) -> F:
    """Pass the AppContext (with --json applied) as the first argument."""

    @wraps(f)
    @click.pass_obj
    def wrapper(obj: AppContext, *args: Any, **kwargs: Any) -> Any:
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
