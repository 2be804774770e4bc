"""Probes of issue 34 against the scratch servers Lifeboat starts for itself (a mount, a drill's
staging, the history's moment): an attacker on the same machine who finds the port while a
moment of production data is restored into it is refused everything; two requests for one
moment restore once; a taken port is named as such."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.drill.service import DrillOptions, run_drill
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.past import mounts
from mongo_lifeboat.past.documents import restored_moment
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.scratch_pki import make_private_pki

from ..support.cli import lifeboat
from ..support.servers import SeededSource


def _attacks(port: int, tmp_path: Path) -> list[str]:
    """What an unprivileged local client got done against 127.0.0.1:port (empty: refused all)."""
    stranger = make_private_pki(tmp_path / f"stranger-{port}")  # a valid certificate of another CA
    uris = {
        "plain": f"mongodb://127.0.0.1:{port}/?directConnection=true",
        "tls without a certificate": (
            f"mongodb://127.0.0.1:{port}/?directConnection=true&tls=true&tlsAllowInvalidCertificates=true"
        ),
        "tls with another CA's certificate": (
            f"mongodb://127.0.0.1:{port}/?directConnection=true&tls=true&tlsAllowInvalidCertificates=true"
            f"&tlsCertificateKeyFile={stranger.client_file}"
        ),
    }
    got_through = []
    for how, uri in uris.items():
        client: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        try:
            try:
                client.admin.command("ping")
            except ServerSelectionTimeoutError:
                continue  # refused at the connection itself: no command of any kind gets through
            got_through.append(f"{how}: connected")
            for name, act in {
                "createUser": lambda c: c.admin.command("createUser", "evil", pwd="x", roles=["root"]),
                "insert": lambda c: c.shop.orders.insert_one({"_id": "planted"}),
                "find": lambda c: c.shop.orders.find_one(),
                "listDatabases": lambda c: c.admin.command("listDatabases"),
            }.items():
                try:
                    act(client)
                    got_through.append(f"{how}: {name}")
                except PyMongoError:
                    pass
        finally:
            client.close()
    return got_through


def test_a_private_scratch_server_refuses_every_other_client(tmp_path: Path) -> None:
    with ScratchServer() as server:
        assert server.private and "tlsCertificateKeyFile=" in server.uri
        with MongoClient(server.uri, serverSelectionTimeoutMS=10_000) as own:
            own.shop.orders.insert_one({"_id": 1})  # Lifeboat's own client works
        assert _attacks(server.port, tmp_path) == []
        pki_dir = server.pki.ca_file.parent if server.pki else None
        assert pki_dir is not None and (pki_dir.stat().st_mode & 0o077) == 0  # only this user reads keys
    assert not pki_dir.exists()  # the keys go with the server


@pytest.fixture
def backed_up(seeded_source: SeededSource, tmp_path: Path) -> Iterator[tuple[Repository, str]]:
    source = seeded_source(200)
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    yield repo, source.uri


def test_a_mount_is_closed_to_other_clients_while_its_moment_is_restored(
    backed_up: tuple[Repository, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = backed_up
    monkeypatch.setenv("LIFEBOAT_MOUNTS", str(tmp_path / "mounts"))
    seen: list[list[str]] = []
    real_restore = mounts.run_restore

    def attacked_restore(repo: Repository, plan: Any, client: MongoClient[Any], *args: Any) -> Any:
        assert client.address is not None
        seen.append(_attacks(client.address[1], tmp_path))  # the window the attacker used
        return real_restore(repo, plan, client, *args)

    monkeypatch.setattr(mounts, "run_restore", attacked_restore)
    mount = mounts.start_mount(repo, None, None, (), ttl_s=600)
    try:
        assert seen == [[]]
        with MongoClient(mount.uri, serverSelectionTimeoutMS=10_000) as reader:
            assert reader.shop.orders.find_one({"_id": "planted"}) is None
            users = reader.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"]
            assert users == [{"user": "reader", "db": "admin"}]
    finally:
        mounts.stop_mount(mount.id)


def test_a_drill_staging_and_a_history_moment_are_closed_to_other_clients(
    backed_up: tuple[Repository, str], tmp_path: Path
) -> None:
    repo, source_uri = backed_up
    attacked: list[list[str]] = []

    def attack(staging: MongoClient[Any]) -> None:
        assert staging.address is not None
        attacked.append(_attacks(staging.address[1], tmp_path))

    report = run_drill(repo, None, DrillOptions(source_uri, before_proof=attack))
    assert report.verdict == "pass" and attacked == [[]]
    backup_id = repo.list_backups()[-1].backup_id
    with restored_moment(repo, backup_id, None, None, ("shop.orders",)) as (client, _):
        assert client.address is not None
        assert _attacks(client.address[1], tmp_path) == []


def test_two_concurrent_mounts_of_one_moment_restore_once(
    backed_up: tuple[Repository, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = backed_up
    monkeypatch.setenv("LIFEBOAT_MOUNTS", str(tmp_path / "mounts"))
    restores = []
    real_restore = mounts.run_restore
    inside = threading.Event()

    def counted(*args: Any) -> Any:
        restores.append(1)
        inside.set()  # the second request is made while this restore is under way
        return real_restore(*args)

    monkeypatch.setattr(mounts, "run_restore", counted)
    results: list[mounts.Mount] = []
    first = threading.Thread(target=lambda: results.append(mounts.start_mount(repo, None, None, (), 600)))
    first.start()
    assert inside.wait(120)
    second = mounts.start_mount(repo, None, None, (), 600)
    first.join(120)
    try:
        assert len(restores) == 1
        assert results[0].id == second.id and second.shared and not results[0].shared
        assert [m.id for m in mounts.list_mounts()] == [second.id]
        env = {"LIFEBOAT_MOUNTS": str(tmp_path / "mounts")}
        listed = lifeboat("mount", "list", "--repo", repo.url, "--json", env=env)
        assert listed.code == 0, listed.stderr
        assert [m["id"] for m in listed.json()] == [second.id]
        other = Repository.init("file://" + str(tmp_path / "other"))
        assert lifeboat("mount", "list", "--repo", other.url, "--json", env=env).json() == []
    finally:
        mounts.stop_mount(second.id)


def test_a_mount_on_a_taken_port_says_the_port_is_taken(
    backed_up: tuple[Repository, str], tmp_path: Path
) -> None:
    repo, _ = backed_up
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = lifeboat(
            "mount", "--port", str(port), "--repo", repo.url, env={"LIFEBOAT_MOUNTS": str(tmp_path / "m")}
        )
    assert res.code == 14, res.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in res.error_lines[0]
    assert "embedded extra" not in res.stderr
