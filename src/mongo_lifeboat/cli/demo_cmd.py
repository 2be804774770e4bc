"""demo."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from ..demo.scenario import run_demo
from ..errors import DrillFailed, NotEqual
from ..session import Session
from .options import app, json_option


@click.command()
@click.option("--docs", type=click.IntRange(10, 1_000_000), default=2000, help="Documents per collection.")
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the demo repository in this directory.",
)
@json_option
@app
def demo(ctx: Session, docs: int, keep: Path | None) -> None:
    """The 2 AM story on scratch servers: backup, archiver, an accidental delete, point-in-time restore, proof."""
    out = ctx.output
    say = out.note if out.json_mode else out.say
    result = run_demo(say, docs, keep)
    out.result(
        asdict(result),
        lambda: out.say(
            f"done: {'restore proven equal' if result.equal else 'RESTORE DIFFERS'}, "
            f"{'undo proven' if result.undo_equal else 'UNDO DIFFERS'}, "
            f"drill {result.drill.get('verdict', '?')}, check {result.check.get('status', '?')}; timings "
            + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings_s.items())
            + (
                f"; the repository is kept in {result.repository}"
                if result.repository_kept
                else "; its repository is removed (keep it with --keep DIR)"
            )
        ),
    )
    if not result.equal:
        raise NotEqual("the restored data differs from the oracle", "rerun with -v and report it")
    if not result.undo_equal:
        raise NotEqual("the undo did not give back exactly the deleted orders", "rerun with -v and report it")
    if result.drill.get("verdict") != "pass":
        raise DrillFailed("the demo's restore drill failed", "rerun with -v and report it")
