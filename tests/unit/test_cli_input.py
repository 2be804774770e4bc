"""What the command line answers to bad or odd input, run in this process (click's CliRunner):
one line, the documented exit code, nothing written. No server is needed for any of it."""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.repo.repository import Repository

from ..support.cli import run_here


def test_a_repository_name_is_the_plans_or_an_error(tmp_path: Path) -> None:
    primary, dr = tmp_path / "primary-repo", tmp_path / "dr-repo"
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[[repository]]\nname = "primary"\nurl = "file://{primary}"\n\n'
        f'[[repository]]\nname = "dr"\nurl = "file://{dr}"\n'
    )
    env = {"LIFEBOAT_CONFIG": str(plan)}
    for name in ("primary", "dr"):
        assert run_here("init", "--repo", name, env=env, cwd=str(tmp_path)).code == 0
    assert (primary / "lifeboat.json").exists() and (dr / "lifeboat.json").exists()
    res = run_here("repair", "--from", "dr", "--repo", "primary", env=env, cwd=str(tmp_path))
    assert res.code == 0, res.stderr  # the README's own example: nothing damaged, nothing to do
    stray = run_here("init", "--repo", "az", env=env, cwd=str(tmp_path))
    assert (
        stray.code == 2
        and "no repository named 'az' in the plan (its repositories: dr, primary)" in stray.stderr
    )
    assert not (tmp_path / "az").exists()  # never a directory made by accident
    assert run_here("init", "--repo", "./az", env=env, cwd=str(tmp_path)).code == 0  # a path, said so


def test_non_finite_numbers_and_unknown_uri_options_are_bad_input(repo: Repository) -> None:
    for value in ("nan", "1e400", "inf"):
        res = run_here("incidents", "--window-seconds", value, "--repo", repo.url)
        assert res.code == 2 and "is not a finite number" in res.stderr, (value, res.stderr)
    # Refused as written, before any connection is tried (nothing listens on port 1).
    bogus = run_here(
        "backup", "--source", "mongodb://127.0.0.1:1/?directConnection=true&bogusOpt=1", "--repo", repo.url
    )
    assert bogus.code == 2, bogus.stderr
    assert "unknown option bogusOpt" in bogus.error_lines[0]
    assert "Traceback" not in bogus.stderr and "UserWarning" not in bogus.stderr


def test_bad_durations_and_moments_are_said_in_one_line_with_a_hint(repo: Repository) -> None:
    ttl = run_here("mount", "--ttl", "soon", "--repo", repo.url)
    assert (
        ttl.code == 2
        and ttl.error_lines[0].startswith("error: --ttl soon: ")
        and ttl.error_lines[1].startswith("hint: ")
    )
    merge = run_here("compact", "--merge", "1h", "--repo", repo.url)
    assert merge.code == 2 and len(merge.error_lines) == 2, merge.stderr
    both = run_here("drill", "--to", "2026-12-05T03:00:00Z", "--latest", "--repo", repo.url)
    assert both.code == 2 and "give --to T or --latest, not both" in both.stderr
