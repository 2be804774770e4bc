"""Acceptance (issue 18, item 3): SIGINT or SIGTERM inside a parallel phase ends a command
within seconds, cleans up what it started, and says what state it left and what to run next.

The signal is sent by the process to itself at a fault point inside the phase
(``LIFEBOAT_FAULT=<point>:sigint``), exactly as a terminal's Ctrl-C would arrive: the
handler runs in the main thread while worker threads are loading or exporting.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from mongo_lifeboat.repo.repository import Repository

from ..support.cli import child_env, lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool

EXIT_WITHIN_S = 5.0


def _interrupted(args: list[str], point: str, signal_name: str = "sigint", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Run lifeboat with a signal at ``point``; (exit code, stderr, seconds from signal to exit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongo_lifeboat.cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env({"LIFEBOAT_FAULT": f"{point}:{signal_name}", **(env or {})}),
    )
    lines: list[str] = []
    signalled: list[float] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("fault:") and not signalled:
                signalled.append(time.monotonic())
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
    ended = time.monotonic()
    reader.join(10)
    stderr = "\n".join(lines)
    assert signalled, f"the fault point {point} was never reached:\n{stderr}"
    return code, stderr, ended - signalled[0]


def _seed(client, n: int = 15_000) -> None:  # type: ignore[no-untyped-def]
    client.shop.orders.insert_many([{"_id": i, "qty": i % 7, "pad": "x" * 200} for i in range(n)])
    client.shop.items.insert_many([{"_id": i, "sku": f"s{i}"} for i in range(n // 3)])
    client.shop.orders.create_index("qty")


def _one_error(stderr: str, what: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    hints = [line for line in stderr.splitlines() if line.startswith("hint:")]
    assert errors == [f"error: interrupted by SIGINT during lifeboat {what}"], stderr
    assert len(hints) == 1, stderr


def test_restore_interrupted_in_its_load_stops_and_says_to_rerun_with_drop(
    servers: ServerPool, repo: Repository
) -> None:
    source = servers.new()
    _seed(source.client())
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    target = servers.new()
    args = ["restore", "latest", "--target", target.uri, "--repo", repo.url, "-j", "4"]
    code, stderr, took = _interrupted(args, "batch-loaded")
    assert code == 130, stderr
    assert took < EXIT_WITHIN_S, f"took {took:.1f}s to stop:\n{stderr}"
    _one_error(stderr, "restore")
    assert "--drop" in stderr
    again = lifeboat(*args, "--drop")  # what the hint says to run
    assert again.code == 0, again.stderr
    assert_same(target.client(), source.client())


def test_restore_stops_on_sigterm_too(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    _seed(source.client(), 15_000)
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    target = servers.new()
    args = ["restore", "latest", "--target", target.uri, "--repo", repo.url]
    code, stderr, took = _interrupted(args, "batch-loaded", "sigterm")
    assert code == 143, stderr
    assert took < EXIT_WITHIN_S, f"took {took:.1f}s to stop:\n{stderr}"
    assert "error: interrupted by SIGTERM during lifeboat restore" in stderr


def test_backup_interrupted_in_its_export_commits_nothing(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    _seed(source.client())
    code, stderr, took = _interrupted(
        ["backup", "--source", source.uri, "--repo", repo.url, "--jobs", "2"], "batch-exported"
    )
    assert code == 130, stderr
    assert took < EXIT_WITHIN_S, f"took {took:.1f}s to stop:\n{stderr}"
    _one_error(stderr, "backup")
    listed = lifeboat("list", "--repo", repo.url, "--json").json()["backups"]
    assert all(b["status"] != "complete" for b in listed), listed
    # Its lease is released: the next backup runs at once, and cleanup removes the partial one.
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    cleaned = lifeboat("cleanup", "--repo", repo.url, "--json")
    assert cleaned.code == 0, cleaned.stderr


def test_drill_interrupted_in_its_load_removes_its_scratch_server(
    servers: ServerPool, repo: Repository, tmp_path: Path
) -> None:
    source = servers.new()
    _seed(source.client())
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    code, stderr, took = _interrupted(
        ["drill", "--source", source.uri, "--repo", repo.url],
        "batch-loaded",
        env={"TMPDIR": str(scratch_parent)},
    )
    assert code == 130, stderr
    assert took < EXIT_WITHIN_S, f"took {took:.1f}s to stop:\n{stderr}"
    _one_error(stderr, "drill")
    assert not list(scratch_parent.glob("lifeboat-scratch-*")), "the scratch server's files were left behind"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(scratch_parent) not in ps, "the scratch server is still running"


def test_a_second_signal_exits_at_once() -> None:
    """The handler's second branch: no cleanup, no hang."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _DOUBLE_SIGNAL],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "again: exiting now" in err


# A command whose cleanup itself hangs (a stand-in: a finally that waits forever) still ends
# on the second signal.
_DOUBLE_SIGNAL = """
import os, signal, sys, threading
from mongo_lifeboat import interrupts
interrupts.install()
try:
    os.kill(os.getpid(), signal.SIGINT)
except BaseException:
    threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    threading.Event().wait()
"""
