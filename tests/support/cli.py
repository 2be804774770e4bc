"""Run the real ``lifeboat`` command in a subprocess: real exit codes, real stdout/stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(("error:", "hint:"))]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a lifeboat process a test starts: the developer's own LIFEBOAT_*
    settings must not leak into a test."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_") or k.startswith("LIFEBOAT_TEST_")
    }
    full_env.update(env or {})
    return full_env


def lifeboat(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: str | None = None
) -> Result:
    full_env = child_env(env)
    proc = subprocess.run(
        [sys.executable, "-m", "mongo_lifeboat.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def popen(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = child_env(env)
    return subprocess.Popen(
        [sys.executable, "-m", "mongo_lifeboat.cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
