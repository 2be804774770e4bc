"""Real MongoDB-compatible servers for integration tests.

Where servers come from, in order:
1. ``LIFEBOAT_TEST_MONGODB_URI``: one or more URIs (space-separated) of real
   replica sets. Each test takes them in order and every user database on them is
   dropped first, so point this only at throwaway deployments. A test that needs
   more servers than were given fails, saying so.
2. A ``mongod`` on PATH: started here as a single-node replica set per server.
3. SecantusDB (``python -m secantus``), started per server.

Server-specific knobs (a tiny oplog) exist only on SecantusDB; tests that need them
ask for ``secantus_only`` and are skipped, with that reason shown, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import MongoClient

from mongo_lifeboat.demo import workload
from mongo_lifeboat.embedded import ScratchServer

from .local import free_port

SYSTEM_DBS = {"admin", "local", "config"}


def external_uris() -> list[str]:
    """The URIs this test process may use. Under pytest-xdist each worker takes its own share
    (worker i of n: every n-th URI from the i-th), so two workers never wipe each other's data."""
    uris = os.environ.get("LIFEBOAT_TEST_MONGODB_URI", "").split()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if uris and worker.startswith("gw") and workers > 1:
        share = uris[int(worker[2:]) :: workers]
        if not share:
            pytest.fail(
                f"LIFEBOAT_TEST_MONGODB_URI lists {len(uris)} URIs for {workers} workers: give more, or run -n 0"
            )
        return share
    return uris


def kind() -> str:
    if external_uris():
        return "external"
    if shutil.which("mongod"):
        return "mongod"
    return "secantus"


@dataclass
class Server:
    uri: str
    kind: str
    _stop: Any = None
    _clients: list[MongoClient[Any]] = field(default_factory=list)

    def client(self) -> MongoClient[dict[str, Any]]:
        c: MongoClient[dict[str, Any]] = MongoClient(self.uri, serverSelectionTimeoutMS=10_000)
        self._clients.append(c)
        return c

    def stop(self) -> None:
        for c in self._clients:
            c.close()
        if self._stop:
            self._stop()
            self._stop = None


def _wipe(uri: str) -> None:
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as c:
        for db in c.list_database_names():
            if db not in SYSTEM_DBS:
                c.drop_database(db)


def _start_mongod() -> Server:
    port = free_port()
    path = tempfile.mkdtemp(prefix="lifeboat-mongod-")
    proc = subprocess.Popen(
        ["mongod", "--replSet", "rs0", "--port", str(port), "--bind_ip", "127.0.0.1", "--dbpath", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    c: MongoClient[Any] = MongoClient(uri, serverSelectionTimeoutMS=30_000)
    c.admin.command("replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]})
    deadline = time.monotonic() + 60
    while not c.admin.command("hello").get("isWritablePrimary"):
        if time.monotonic() > deadline:
            raise RuntimeError("mongod did not become primary")
        time.sleep(0.2)  # waiting for an election: there is no event to wait on
    c.close()

    def stop() -> None:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(path, ignore_errors=True)

    return Server(uri, "mongod", stop)


class SeededSource:
    """``seeded_source(n)``: a fresh source server holding the demo workload's collections, ``n``
    documents each (the start of most integration tests, in one place)."""

    def __init__(self, pool: ServerPool) -> None:
        self.pool = pool

    def __call__(self, n: int) -> Server:
        source = self.pool.new()
        workload.seed(source.client(), n)
        return source


class ServerPool:
    """Hands out servers to one test and stops what it started afterwards."""

    def __init__(self) -> None:
        self._started: list[Server] = []
        self._external = list(external_uris())

    def new(self, *, secantus_args: list[str] | None = None) -> Server:
        if secantus_args and kind() != "secantus":
            pytest.skip(f"needs SecantusDB flags {secantus_args}; the test server is {kind()}")
        if kind() == "external":
            if not self._external:
                pytest.fail("this test needs more servers than LIFEBOAT_TEST_MONGODB_URI lists")
            uri = self._external.pop(0)
            _wipe(uri)
            server = Server(uri, "external")
        elif kind() == "mongod":
            server = _start_mongod()
        else:
            scratch = ScratchServer(secantus_args, private=False).start()
            server = Server(scratch.uri, "secantus", scratch.stop)
        self._started.append(server)
        return server

    def close(self) -> None:
        for s in self._started:
            s.stop()
