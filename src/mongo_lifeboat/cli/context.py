"""What every command gets: output settings and the plan."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click

from .. import config
from ..config import Plan
from ..errors import RepositoryError
from ..output import Output
from ..repo.repository import Repository
from ..secrets import redact


@dataclass
class AppContext:
    output: Output
    plan: Plan


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


def open_repository(ctx: AppContext, repo: str | None, reading: bool = False) -> Repository:
    """Every command opens its repository here: --repo, else $LIFEBOAT_REPO, else the plan's
    first; with the plan's settings for it (S3 endpoint, region, profile, storage class).

    ``reading``: a command that only reads (restore, drill, export, timeline …) given no
    repository of its own goes on to the plan's next repository when one cannot be opened,
    and says so. A named repository is never swapped for another."""
    url = config.repo_url(repo, ctx.plan)
    candidates = [url]
    if reading and not repo and not os.environ.get("LIFEBOAT_REPO"):
        candidates += [r.url for r in ctx.plan.repository if r.url != url]
    for i, candidate in enumerate(candidates):
        try:
            return Repository.open(candidate, config.repository_settings(candidate, ctx.plan))
        except RepositoryError as e:
            if i == len(candidates) - 1:
                raise
            ctx.output.warn(
                f"repository {redact(candidate)} cannot be read ({e.message}); reading from {redact(candidates[i + 1])}"
            )
    raise AssertionError("unreachable")


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
