"""The README's promises that can be checked are checked (issue 18): progress without a
terminal comes at its stated cadence, the exit-code table is the code's, and every error is
said once, as one ``error:`` line with one ``hint:``."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from mongo_lifeboat import errors
from mongo_lifeboat.repo.repository import Repository

from ..support.cli import child_env, lifeboat
from ..support.servers import ServerPool

README = Path(__file__).resolve().parents[2] / "README.md"


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def test_the_exit_code_table_is_the_codes_the_errors_carry() -> None:
    text = README.read_text()
    table = text.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    used = {c.exit_code for c in _all_subclasses(errors.LifeboatError)} | {errors.LifeboatError.exit_code}
    # 0 success, 70 internal error, 130/143 interrupted (errors.Interrupted carries them).
    assert documented == used | {0, 70, 130, 143}


def test_progress_without_a_terminal_comes_at_its_cadence(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    source.client().big.docs.insert_many([{"_id": i, "pad": "x" * 300} for i in range(40_000)])
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    target = servers.new()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongo_lifeboat.cli.main", "restore", "latest", "--target", target.uri,
         "--repo", repo.url, "-j", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env({"LIFEBOAT_PROGRESS_SECONDS": "0.5"}),
    )  # fmt: skip
    stamps: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stamps.append((time.monotonic(), line.rstrip()))

    reader = threading.Thread(target=read)
    reader.start()
    assert proc.wait(300) == 0
    reader.join()
    load_start = next(t for t, line in stamps if "load: inserting documents" in line)
    load_end = next(
        t for t, line in stamps if t > load_start and line.startswith("restore: ") and "load" not in line
    )
    lines = [t for t, line in stamps if line.startswith("loading: ")]
    assert lines, "\n".join(line for _, line in stamps)
    # From the load's start to its end, never more than the cadence (plus a loaded machine's slack).
    edges = [load_start, *lines, load_end]
    assert max(b - a for a, b in itertools.pairwise(edges)) < 0.5 + 2.0, stamps
    assert all(
        re.match(r"loading: \d+/40000 documents, [\d.]+ MiB, [\d,]+ docs/s", line)
        for _, line in stamps
        if line.startswith("loading: ")
    )


def test_every_error_is_said_once(servers: ServerPool, repo: Repository, tmp_path: Path) -> None:
    source = servers.new()
    source.client().a.b.insert_one({"_id": 1})
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    failing = [
        ("restore", "--to", "2001-01-01T00:00:00Z", "--target", servers.new().uri, "--repo", repo.url),
        ("backup", "--source", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500", "--repo", repo.url),
        ("list", "--repo", "file://" + str(tmp_path / "nowhere")),
        ("restore", "latest", "--target", source.uri, "--repo", repo.url),  # the target holds a.b
    ]
    for args in failing:
        res = lifeboat(*args)
        assert res.code not in (0, 70), (args, res.stderr)
        errors_said = [line for line in res.stderr.splitlines() if "error" in line.lower()]
        assert len([line for line in res.stderr.splitlines() if line.startswith("error:")]) == 1, res.stderr
        assert len([line for line in res.stderr.splitlines() if line.startswith("hint:")]) == 1, res.stderr
        assert len(errors_said) == 1, (args, res.stderr)  # no event line repeating it


def test_check_without_a_plan_says_so_and_plan_show_prints_toml(tmp_path: Path) -> None:
    res = lifeboat("check", cwd=str(tmp_path))
    assert res.code == 3, res.stderr
    assert res.error_lines[0].startswith("error: no plan file") and "lifeboat plan init" in res.error_lines[1]
    plan = tmp_path / "lifeboat.toml"
    assert lifeboat("plan", "init", str(plan)).code == 0
    env = {
        "LIFEBOAT_SOURCE_PASSWORD": "pw-never-shown",
        "LIFEBOAT_S3_SECRET": "x",
        "LIFEBOAT_NOTIFY_URL": "json://hooks.example.com/tok-never-shown",
    }
    shown = lifeboat("--config", str(plan), "plan", "show", env=env)
    assert shown.code == 0, shown.stderr
    import tomllib

    parsed = tomllib.loads(shown.stdout)  # what it prints is a plan file again
    assert parsed["deployment"]["member"] == "auto" and parsed["repository"]
    assert "pw-never-shown" not in shown.stdout and "tok-never-shown" not in shown.stdout
