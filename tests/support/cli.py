"""Run the real ``lifeboat`` command in a subprocess: real exit codes, real stdout/stderr."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from mongo_lifeboat import interrupts
from mongo_lifeboat.cli.main import main


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


def run_here(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> Result:
    """The same command in this process, through click's CliRunner (its isolated streams and
    environment), with the real exit code and ``error:``/``hint:`` lines: for tests of what the
    command line answers, where a subprocess is not what is tested. What a run installs for its
    process (signal handlers, the root logger's handler) is put back afterwards."""
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("LIFEBOAT_") and not k.startswith("LIFEBOAT_TEST_")
    }
    handlers = {sig: signal.getsignal(sig) for sig in interrupts.EXIT_CODES}
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level
    code = 0
    with (
        CliRunner().isolation(env={**unset, **(env or {})}) as (out, err, _),
        contextlib.chdir(cwd or os.getcwd()),
    ):
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            root.handlers[:] = kept
            root.setLevel(level)
        return Result(code, out.getvalue().decode(), err.getvalue().decode())
