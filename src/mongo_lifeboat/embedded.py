"""Scratch MongoDB-compatible servers (SecantusDB) for the demo, drills and tests.

SecantusDB is GPL-2.0, so it is only ever *run* as a separate process
(``python -m secantus``), never imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from .errors import EmbeddedServerError
from .scratch_pki import PrivatePKI, make_private_pki

_LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")
START_TIMEOUT_S = 60.0


def available() -> bool:
    return importlib.util.find_spec("secantus") is not None


class ScratchServer:
    """A single-node replica set on loopback, with its data in a temporary directory.

    ``extra_args`` go to the server, e.g. ``["--oplog-max-entries", "100"]``.

    ``private`` (the default for every server Lifeboat starts for itself): the server admits
    only clients holding a certificate made for this one run (``scratch_pki``), from its first
    second, so no other local process can read or plant data while a moment is restored into
    it. ``uri`` carries the client certificate's path. Tests' plain servers pass ``False``.
    """

    def __init__(
        self,
        extra_args: list[str] | None = None,
        data_dir: Path | None = None,
        port: int = 0,
        private: bool = True,
    ) -> None:
        self.extra_args = list(extra_args or [])
        self.private = private
        self.pki: PrivatePKI | None = None
        self._pki_dir: Path | None = None
        self.wanted_port = port  # 0: any free port
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="lifeboat-scratch-"))
        self.proc: subprocess.Popen[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._log: list[str] = []

    @property
    def uri(self) -> str:
        tls = f"&{self.pki.uri_options()}" if self.pki else ""
        return f"mongodb://{self.host}:{self.port}/?directConnection=true{tls}"

    def start(self) -> ScratchServer:
        if not available():
            raise EmbeddedServerError("SecantusDB is not installed, so no scratch server can start")
        if self.private and self.pki is None:
            self._pki_dir = Path(tempfile.mkdtemp(prefix="lifeboat-scratch-tls-"))
            self.pki = make_private_pki(self._pki_dir)
        cmd = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.wanted_port),
            "--storage-path",
            str(self.data_dir),
            "--log-level",
            "WARNING",
            *self.extra_args,
            *(self.pki.server_args() if self.pki else []),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # INFO is needed for the "listening on" line; WARNING keeps the rest quiet.
        cmd[cmd.index("--log-level") + 1] = "INFO"
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        found = threading.Event()

        def reader() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if len(self._log) < 200:
                    self._log.append(line.rstrip())
                m = _LISTENING.search(line)
                if m and not found.is_set():
                    self.host, self.port = m.group(1), int(m.group(2))
                    found.set()
            found.set()  # the process ended

        threading.Thread(target=reader, daemon=True, name="lifeboat-scratch-log").start()
        if not found.wait(START_TIMEOUT_S) or not self.port:
            tail = " | ".join(self._log[-5:])
            self.stop()
            if self.wanted_port and port_taken(self.wanted_port):
                raise EmbeddedServerError(*port_taken_message(self.wanted_port))
            raise EmbeddedServerError(f"the scratch server did not start: {tail or 'no output'}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self._own_dir:
                # Its data is about to be deleted: no need for a graceful (2 s) shutdown.
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._pki_dir is not None:
            shutil.rmtree(self._pki_dir, ignore_errors=True)
            self._pki_dir, self.pki = None, None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> ScratchServer:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


def port_taken(port: int) -> bool:
    """Whether something already listens on (or holds) ``port`` of 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: TIME_WAIT is free
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_taken_message(port: int) -> tuple[str, str]:
    return (
        f"port {port} on 127.0.0.1 is already in use",
        "choose another port, or leave it out to take a free one",
    )
