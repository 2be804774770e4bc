"""Probe of issue 35: a mount whose keeper has ended leaves the list at once, even while the
process that started it (the agent) has not reaped it yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mongo_lifeboat.past import mounts
from mongo_lifeboat.processes import alive, zombie

from ..support.waiting import wait_for


def test_an_ended_unreaped_keeper_is_not_a_running_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFEBOAT_MOUNTS", str(tmp_path))
    keeper = subprocess.Popen([sys.executable, "-c", "pass"])  # ends at once; never waited for here
    wait_for(lambda: zombie(keeper.pid), "the keeper to end (and stay unreaped)")
    directory = tmp_path / "m-ended"
    directory.mkdir()
    record = mounts.Mount(
        id="m-ended",
        key=json.dumps(["repo-id", "1:1", []]),
        restored_to="1:1",
        namespaces=[],
        backup_id="20261201T000000Z",
        documents=0,
        port=1,
        password="x",
        created_at="2026-12-01T00:00:00Z",
        expires_at="2099-01-01T00:00:00+00:00",
        keeper_pid=keeper.pid,
    )
    mounts.save_record(directory, record)
    assert not alive(keeper.pid)
    assert mounts.list_mounts() == [] and not directory.exists()
    keeper.wait()
