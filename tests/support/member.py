"""A SecantusDB member that a shell command can stop and start again on the same port and data
directory: the "cold" snapshot method's test bed. ``python member.py stop|start STATE_FILE``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def free_port() -> int:
    """(Its own, not support.local's: this file also runs as a script, in snapshot hooks.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StoppableMember:
    def __init__(self, state: Path, data_dir: Path | None = None, port: int | None = None) -> None:
        self.state = state
        if data_dir is not None:
            state.write_text(
                json.dumps({"data_dir": str(data_dir), "port": port or free_port(), "pid": None})
            )

    def _load(self) -> dict[str, object]:
        return dict(json.loads(self.state.read_text()))

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self._load()['port']}/?directConnection=true"

    def start(self, timeout_s: float = 60.0) -> None:
        info = self._load()
        proc = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(info["port"]),
             "--storage-path", str(info["data_dir"]), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.state.write_text(json.dumps({**info, "pid": proc.pid}))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=300) as c:
                    c.admin.command("ping")
                return
            except PyMongoError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"the member did not start on port {info['port']}") from None
                time.sleep(0.1)  # polling for the port to answer

    def stop(self, timeout_s: float = 60.0) -> None:
        pid = self._load().get("pid")
        if not pid:
            return
        try:
            os.kill(int(pid), signal.SIGTERM)  # a clean shutdown: data files consistent
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while _alive(int(pid)):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(pid), os.WNOHANG)  # reap it when it is our own child
            if time.monotonic() > deadline:
                os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.05)  # polling for the process to exit
        self.state.write_text(json.dumps({**self._load(), "pid": None}))


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


if __name__ == "__main__":
    # stop STATE | start STATE | serve-copy SNAPSHOT_DIR DATA_DIR STATE (prints the new server's URI)
    action = sys.argv[1]
    if action == "serve-copy":
        shutil.copytree(sys.argv[2], sys.argv[3])
        served = StoppableMember(Path(sys.argv[4]), Path(sys.argv[3]))
        served.start()
        print(served.uri)
    else:
        member = StoppableMember(Path(sys.argv[2]))
        member.stop() if action == "stop" else member.start()
