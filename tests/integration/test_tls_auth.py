"""Acceptance (issue 9 item 7): SCRAM authentication and TLS to MongoDB — a SecantusDB started
with ``--auth`` and certificates the test generates — and the password appears nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from mongo_lifeboat.demo import workload
from mongo_lifeboat.embedded import ScratchServer

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool, kind
from ..support.tls import make_certificates

PASSWORD = "Tls-and-Scram-pw-4e1b"


@pytest.fixture
def secure_source(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URI with user, password, TLS and CA; the CA file) of a server that requires both."""
    if kind() != "secantus":
        pytest.skip(f"starts SecantusDB with --auth and TLS itself; the test server is {kind()}")
    ca, cert, key = make_certificates(tmp_path)
    data = tmp_path / "data"
    with ScratchServer(data_dir=data) as plain:  # users are provisioned before auth is on (mTLS-gated)
        MongoClient(plain.uri).admin.command("createUser", "backup", pwd=PASSWORD, roles=["root"])
    with ScratchServer(
        ["--auth", "--tls-cert-file", str(cert), "--tls-key-file", str(key)], data_dir=data, private=False
    ) as s:
        yield (
            f"mongodb://backup:{PASSWORD}@127.0.0.1:{s.port}/?directConnection=true&tls=true"
            f"&tlsCAFile={ca}&authSource=admin",
            str(ca),
        )


def test_backup_and_restore_over_tls_with_scram_and_the_password_nowhere(
    secure_source: tuple[str, str], servers: ServerPool, tmp_path: Path
) -> None:
    uri, ca = secure_source
    src: MongoClient[dict[str, object]] = MongoClient(uri)
    workload.seed(src, 50)
    repo = "file://" + str(tmp_path / "repo")
    outputs = [lifeboat("init", "--repo", repo)]
    outputs.append(lifeboat("-v", "backup", "--source", uri, "--repo", repo, "--json"))
    assert outputs[-1].code == 0, outputs[-1].stderr
    target = servers.new()
    outputs.append(lifeboat("-v", "restore", "latest", "--target", target.uri, "--repo", repo, "--json"))
    assert outputs[-1].code == 0, outputs[-1].stderr
    assert_same(src, target.client())
    # Wrong password and no TLS: one clear error each, naming the host, never the password.
    wrong = uri.replace(PASSWORD, PASSWORD[::-1])
    outputs.append(lifeboat("backup", "--source", wrong, "--repo", repo))
    assert outputs[-1].code == 4 and "authentication failed" in outputs[-1].error_lines[0]
    no_tls = uri.replace("&tls=true", "").replace(f"&tlsCAFile={ca}", "")
    outputs.append(lifeboat("backup", "--source", no_tls, "--repo", repo))
    assert outputs[-1].code == 4
    for r in outputs:
        assert PASSWORD not in r.stdout + r.stderr and PASSWORD[::-1] not in r.stdout + r.stderr
    for f in (tmp_path / "repo").rglob("*"):
        assert not f.is_file() or PASSWORD.encode() not in f.read_bytes(), f
