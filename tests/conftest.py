"""Shared fixtures: real servers, a fresh repository, the fixtures directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_lifeboat.repo.repository import Repository

from .support.servers import SeededSource, ServerPool

# The real mongodump outputs live outside the project (they may not be copied into it):
# LIFEBOAT_FIXTURES, else ../shared/fixtures/mongo-tools beside the checkout.
FIXTURES = Path(
    os.environ.get("LIFEBOAT_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mongo-tools"
)


@pytest.fixture
def servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def seeded_source(servers: ServerPool) -> SeededSource:
    return SeededSource(servers)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init("file://" + str(tmp_path / "repo"))


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        why = f"the mongo-tools fixtures are not at {FIXTURES}"
        if os.environ.get("LIFEBOAT_REQUIRE_FIXTURES"):  # CI has them: a skip there is a failure
            pytest.fail(why)
        pytest.skip(why)
    return FIXTURES


# The storage contract's parameters that are emulated object stores (the rest are files or memory).
_EMULATED = {"s3", "s3-versioned", "gcs", "azure"}


# Tests held to wall-clock promises (an alert within 10 s, schedules with a seconds field, the
# archiver's lag under load). Under pytest-xdist (``--dist loadgroup``) they share one worker, so
# no two of them compete for the CPU; the other worker runs the rest beside them. The mount test
# joins them: three times in about ten two-worker runs its in-process archiver stalled short of a
# 1,300-entry update while the agent tests ran beside it (cause not found; it failed once on this
# worker too, so this lowers the chance at best).
_TIMING = {
    "test_agent.py",
    "test_agent_drift.py",
    "test_live_detection.py",
    "test_archiver_load.py",
    "test_mount.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers, applied from what a test needs, so the inner loop is
    ``pytest -m "not server and not emulator and not browser"`` and nothing has to remember to
    mark itself: every integration test starts servers; emulated stores show in a test's
    parameters or fixtures; the browser test is the dashboard's."""
    for item in items:
        path = Path(str(item.path))
        if "integration" in path.parts:
            item.add_marker(pytest.mark.server)
            if path.name == "test_dashboard_browser.py":
                item.add_marker(pytest.mark.browser)
            if path.name in _TIMING:
                item.add_marker(pytest.mark.xdist_group("timing"))
        params = getattr(getattr(item, "callspec", None), "params", {})
        fixtures = set(getattr(item, "fixturenames", ()))
        if any(str(v) in _EMULATED for v in params.values()) or fixtures & {"emulators", "cloud_repo"}:
            item.add_marker(pytest.mark.emulator)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Counted from the reports, which reach the controlling process under pytest-xdist too.
    missing = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if "the mongo-tools fixtures are not at" in str(r.longrepr)
    ]
    if missing:
        terminalreporter.write_line(
            f"NOTE: {len(missing)} tests skipped: the mongo-tools fixtures are not at {FIXTURES}; "
            "set LIFEBOAT_FIXTURES=/path/to/shared/fixtures/mongo-tools (or check out shared/ beside "
            "this checkout) to run them",
            yellow=True,
        )
