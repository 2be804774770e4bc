"""plan show, plan init."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..config import DEFAULT_PLAN
from ..errors import UsageError
from ..example_plan import EXAMPLE
from ..session import Session
from .options import app, json_option


@click.group()
def plan() -> None:
    """The recovery plan file (lifeboat.toml)."""


@plan.command("show")
@json_option
@app
def show(ctx: Session) -> None:
    """Print the plan in effect as TOML (defaults filled in, every secret redacted)."""
    data = ctx.plan.shown()
    where = f"# the plan in effect: {ctx.plan_path}" if ctx.plan_path else "# no plan file: the defaults"
    ctx.output.result(
        data, lambda: ctx.output.say(where + " (defaults filled in, secrets redacted)\n" + to_toml(data))
    )


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a TOML basic string


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """The plan as its file would say it: keys, then [sections] and [[arrays of sections]]
    (settings that are not set are left out: TOML has no null)."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if v is not None and not _is_table(v)]
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            body = to_toml(v, f"{name}.")
            lines += ["", f"[{name}]", body] if body.strip() else []
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines += ["", f"[[{name}]]", to_toml(item, f"{name}.")]
    return "\n".join(line for line in lines).strip("\n")


def _is_table(v: Any) -> bool:
    return isinstance(v, dict) or (isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v))


@plan.command("init")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default=str(DEFAULT_PLAN))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@app
def init(ctx: Session, path: Path, force: bool) -> None:
    """Write a commented example plan to PATH (default ./lifeboat.toml)."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", "pass --force to overwrite it, or another path")
    path.write_text(EXAMPLE, encoding="utf-8")
    ctx.output.result(
        {"written": str(path)}, lambda: ctx.output.say(f"wrote {path}: edit it, then run lifeboat check")
    )
