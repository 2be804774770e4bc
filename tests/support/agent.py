"""A ``lifeboat agent`` process for a test: its dashboard address, its API, its signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from .cli import child_env
from .waiting import wait_for


class AgentRun:
    def __init__(self, plan: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mongo_lifeboat.cli.main",
                "--config",
                str(plan),
                "agent",
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(env),
        )
        self.lines: list[str] = []
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: bool(self.url) or self.proc.poll() is not None, "the agent's dashboard", 120)
        assert self.url, "the agent ended before serving its dashboard:\n" + self.log

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if "dashboard on http://" in line and not self.url:
                self.url = line.split("dashboard on ")[1].split()[0].rstrip("/")

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def get(self, path: str, headers: dict[str, str] | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def api(self, name: str) -> Any:
        return json.loads(self.get(f"/api/{name}"))

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM, as systemd and Kubernetes stop it; its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
