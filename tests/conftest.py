"""Shared fixtures: real servers, a fresh repository, the fixtures directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_lifeboat.repo.repository import Repository

from .support.servers import ServerPool

# The real mongodump outputs live outside the project (they may not be copied into it):
# LIFEBOAT_FIXTURES, else ../shared/fixtures/mongo-tools beside the checkout.
FIXTURES = Path(
    os.environ.get("LIFEBOAT_FIXTURES")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mongo-tools"
)
_missing_fixtures: list[str] = []


@pytest.fixture
def servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init("file://" + str(tmp_path / "repo"))


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        why = f"the mongo-tools fixtures are not at {FIXTURES}"
        if os.environ.get("LIFEBOAT_REQUIRE_FIXTURES"):  # CI has them: a skip there is a failure
            pytest.fail(why)
        _missing_fixtures.append(why)
        pytest.skip(why)
    return FIXTURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing_fixtures:
        terminalreporter.write_line(
            f"NOTE: {len(_missing_fixtures)} tests skipped: the mongo-tools fixtures are not at {FIXTURES}; "
            "set LIFEBOAT_FIXTURES=/path/to/shared/fixtures/mongo-tools (or check out shared/ beside "
            "this checkout) to run them",
            yellow=True,
        )
