"""Issue 22, item 6: a sharded cluster is designed for but not captured yet, so a mongos source
is refused with a message that says so (not "not a replica set"). The mongos is a wire-level
test double: no sharded cluster can run here, and SecantusDB has no mongos mode."""

from __future__ import annotations

from pathlib import Path

from ..support.cli import lifeboat
from ..support.wire_double import FakeMongod


def test_a_mongos_source_is_refused_naming_it(tmp_path: Path) -> None:
    mongos = FakeMongod(mongos=True)
    try:
        repo = "file://" + str(tmp_path / "repo")
        assert lifeboat("init", "--repo", repo).code == 0
        for command in (["backup"], ["stream", "--segment-seconds", "1"]):
            res = lifeboat(*command, "--source", mongos.uri, "--repo", repo, timeout=120)
            assert res.code == 13, (command, res.stderr)
            assert "is a mongos (a sharded cluster)" in res.error_lines[0], res.stderr
            assert "Sharded clusters" in res.stderr
    finally:
        mongos.close()
