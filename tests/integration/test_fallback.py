"""Reading commands go on with the plan's other repositories when one cannot be opened, and say so."""

from __future__ import annotations

from pathlib import Path

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import SeededSource, ServerPool


def test_restore_falls_back_to_the_next_repository_and_says_so(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(40)
    good = "file://" + str(tmp_path / "dr")
    assert lifeboat("init", "--repo", good).code == 0
    assert lifeboat("backup", "--source", source.uri, "--repo", good).code == 0
    gone = "file://" + str(tmp_path / "primary-lost")  # the primary's disk is gone
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[[repository]]\nname = "primary"\nurl = "{gone}"\n[[repository]]\nname = "dr"\nurl = "{good}"\n'
    )
    target = servers.new()
    res = lifeboat("--config", str(plan), "restore", "latest", "--target", target.uri)
    assert res.code == 0, res.stderr
    assert f"repository primary ({gone}) cannot be opened" in res.stderr
    assert "going on without it" in res.stderr
    assert_same(source.client(), target.client())
    # A repository named on the command line is never swapped for another.
    named = lifeboat("--config", str(plan), "list", "--repo", gone)
    assert named.code == 5
