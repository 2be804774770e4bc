"""Issue 20, items 6 and 11: a restore's targets and filters are checked before anything is
written (a dry run too): reserved or path-like rename targets are refused with the target left
untouched, a malformed filter is named, and filters that match nothing are an error."""

from __future__ import annotations

import pytest

from mongo_lifeboat.repo.repository import Repository

from ..support.cli import lifeboat
from ..support.servers import ServerPool


@pytest.fixture
def backed_up(servers: ServerPool, repo: Repository) -> tuple[str, str]:
    source = servers.new()
    source.client().shop.customers.insert_many([{"_id": i} for i in range(20)])
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    return repo.url, servers.new().uri


@pytest.mark.parametrize(
    "to",
    ["fresh9.a/../../y", "weird.system.views", "local.oplog.rs", "admin.system.users", "config.x", "a..b.c"],
)
def test_a_reserved_or_path_like_rename_target_is_refused_untouched(
    backed_up: tuple[str, str], servers: ServerPool, to: str
) -> None:
    url, target = backed_up
    rename = ["--ns-include", "shop.customers", "--ns-from", "shop.customers", "--ns-to", to]
    for extra in (["--dry-run"], ["--drop"]):
        res = lifeboat("restore", "latest", "--target", target, "--repo", url, *rename, *extra)
        assert res.code == 2, res.stderr
        assert res.error_lines[0].startswith(f"error: cannot restore shop.customers into {to!r}")
    from pymongo import MongoClient

    with MongoClient(target) as c:
        assert set(c.list_database_names()) <= {"admin", "local", "config"}
        assert "system.views" not in c["weird"].list_collection_names()


def test_filters_that_are_malformed_or_match_nothing_are_errors(backed_up: tuple[str, str]) -> None:
    url, target = backed_up
    bad = lifeboat("restore", "latest", "--target", target, "--repo", url, "--ns-include", "\\")
    assert bad.code == 2 and "--ns-include" in bad.error_lines[0], bad.stderr
    nothing = lifeboat("restore", "latest", "--target", target, "--repo", url, "--ns-include", "nomatch.*")
    assert nothing.code == 2, nothing.stderr
    assert "match nothing" in nothing.error_lines[0] and "shop" in nothing.error_lines[0]
    allowed = lifeboat(
        "restore", "latest", "--target", target, "--repo", url, "--ns-include", "nomatch.*", "--allow-empty"
    )
    assert allowed.code == 0, allowed.stderr
