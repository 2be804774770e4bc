"""Acceptance (issue 37, part 3): every change to the setup is tested. A drill records what it
proved; an index added on the source, and separately a change of the plan's repositories, make
``lifeboat check`` warn "untested since …" naming the change, and the agent runs one drill for
each change (``[drill] after_change``), after which the check is ok again."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from mongo_lifeboat.repo.repository import Repository

from ..support.agent import AgentRun
from ..support.cli import lifeboat
from ..support.servers import SeededSource
from ..support.waiting import wait_for


def _plan(source: str, repos: list[str]) -> str:
    repositories = "".join(f'[[repository]]\nname = "r{i}"\nurl = "{url}"\n' for i, url in enumerate(repos))
    # No backup or drill schedule: every drill the agent runs here is one for a change.
    return f"""
[deployment]
name = "drift-test"
source = "{source}"
{repositories}
[drill]
after_change = "2s"
[agent]
check_interval = "1s"
warmup = "1s"
"""


def _drill_age(checks: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in checks["checks"] if c["id"] == "drill-age")


def _drill_job(run: AgentRun) -> dict[str, Any]:
    return next(j for j in run.api("status")["jobs"] if j["name"] == "drill")


def _cycles_pass(run: AgentRun, n: int) -> None:
    """Wait until the agent has finished ``n`` more check cycles."""
    seen: set[str] = set()

    def more() -> bool:
        seen.add(str(run.api("status")["agent"]["checked_at"]))
        return len(seen) > n

    wait_for(more, f"{n} more check cycles", 60)


def _drilled_once_for_the_change(run: AgentRun, runs: int) -> None:
    wait_for(
        lambda: _drill_job(run)["runs"] == runs and _drill_age(run.api("checks"))["status"] == "ok",
        f"drill {runs} (for the change) to pass and the check to be ok again",
        180,
    )
    assert _drill_job(run)["last"]["exit_code"] == 0
    _cycles_pass(run, 3)
    job = _drill_job(run)
    assert job["runs"] == runs and not job["running"], job  # once per change, not on every check


def test_a_changed_setup_warns_and_the_agent_drills_once_per_change(
    seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src = source.client()
    repos = [Repository.init("file://" + str(tmp_path / name)).url for name in ("a", "b")]
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(_plan(source.uri, repos[:1]))
    run_args = ["--config", str(plan)]
    assert lifeboat(*run_args, "backup").code == 0
    drilled = lifeboat(*run_args, "drill", "--json")
    assert drilled.code == 0, drilled.stderr
    proved = drilled.json()["fingerprint"]
    assert proved["plan"] and proved["server"]["version"] and "shop.orders" in proved["collections"]
    shown = lifeboat(*run_args, "drill", "show", "latest").stdout
    assert f"proved: server {proved['server']['version']}" in shown and ", the plan, Lifeboat " in shown, (
        shown
    )
    assert _drill_age(lifeboat(*run_args, "check", "--json").json())["status"] == "ok"

    # 1. An index added on the source: untested, named.
    src.shop.orders.create_index("status")
    warned = _drill_age(lifeboat(*run_args, "check", "--json").json())
    assert warned["status"] == "warning", warned
    assert (
        warned["finding"].startswith("untested since ") and "the indexes of shop.orders" in warned["finding"]
    )
    assert warned["remedy"]["action"] == "drill"

    run = AgentRun(plan)
    try:
        _drilled_once_for_the_change(run, 1)
        # 2. The plan's repositories changed (a second one): untested, named; one drill more.
        plan.write_text(_plan(source.uri, repos))
        warned = _drill_age(lifeboat(*run_args, "check", "--json").json())
        assert warned["status"] == "warning" and "the plan's repositories" in warned["finding"], warned
        run.signal(signal.SIGHUP)
        _drilled_once_for_the_change(run, 2)
    finally:
        code = run.stop()
    assert code == 0, run.log
    assert "the setup changed since the last passing drill" in run.log
