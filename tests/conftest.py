"""Shared fixtures: real servers, a fresh repository, the fixtures directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_lifeboat.repo.repository import Repository

from .support.servers import ServerPool

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mongo-tools"


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
        pytest.fail(f"the mongo-tools fixtures are missing: expected them at {FIXTURES}")
    return FIXTURES
