"""plan show, plan init."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import DEFAULT_PLAN
from ..errors import UsageError
from ..plan.example import EXAMPLE
from .context import AppContext, app, json_option


@click.group()
def plan() -> None:
    """The recovery plan file (lifeboat.toml)."""


@plan.command("show")
@json_option
@app
def show(ctx: AppContext) -> None:
    """Print the plan in effect (defaults filled in, every secret redacted)."""
    data = ctx.plan.shown()
    ctx.output.result(data, lambda: ctx.output.say(json.dumps(data, indent=2)))


@plan.command("init")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default=str(DEFAULT_PLAN))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@app
def init(ctx: AppContext, path: Path, force: bool) -> None:
    """Write a commented example plan to PATH (default ./lifeboat.toml)."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", "pass --force to overwrite it, or another path")
    path.write_text(EXAMPLE, encoding="utf-8")
    ctx.output.result(
        {"written": str(path)}, lambda: ctx.output.say(f"wrote {path}: edit it, then run lifeboat check")
    )


COMMANDS = [plan]
