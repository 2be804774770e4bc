"""``lifeboat stream`` run as its own process, for tests that kill, stop and read it."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from .cli import popen


class Stream:
    """A ``lifeboat stream`` process whose stderr is collected; ``started`` waits for its first line."""

    def __init__(
        self, source_uri: str, url: str, env: dict[str, str] | None = None, capture: str = "oplog"
    ) -> None:
        self.proc = popen(
            "stream",
            "--source",
            source_uri,
            "--repo",
            url,
            "--segment-seconds",
            "0.3",
            "--capture",
            capture,
            env=env,
        )
        self.lines: list[str] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "stream: archiving" in line:
                self._started.set()
        self._started.set()

    def started(self) -> Stream:
        assert self._started.wait(60) and self.proc.poll() is None, "".join(self.lines)
        return self

    def stop(self) -> str:
        """SIGTERM (after start-up); returns stderr. The archiver must flush and exit 0."""
        self.started()
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, "".join(self.lines)
        self._reader.join(10)
        return "".join(self.lines)

    def wait_killed(self) -> None:
        try:
            code = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("the archiver never reached its fault point:\n" + "".join(self.lines))
        assert code == -signal.SIGKILL, "".join(self.lines)
