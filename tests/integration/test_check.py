"""Acceptance (issue 8): ``lifeboat check`` against real servers and repositories, metrics that
carry the run's values, notifications to a local web hook, and secrets that never leak."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mongo_lifeboat.demo import workload
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import Result, lifeboat, popen
from ..support.servers import SeededSource, ServerPool
from ..support.webhook import webhook

SECRET = "pw-Xq7-never-printed"


def _statuses(res: Result) -> dict[str, str]:
    return {c["id"]: c["status"] for c in res.json()["checks"]}


def _with_password(uri: str, client: Any) -> str:
    """The source URI with a real user and password (the secret the tests grep for)."""
    client.admin.command("createUser", "lifeboat_backup", pwd=SECRET, roles=["root"])
    scheme, rest = uri.split("://", 1)
    sep = "&" if "?" in rest else "/?"
    return f"{scheme}://lifeboat_backup:${{LB_TEST_SOURCE_PW}}@{rest}{sep}authSource=admin"


def test_an_incomplete_plan_is_critical_on_the_checks_it_misses(
    seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(50)
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nurl = "{repo.url}"\nregion = "eu"\n'
    )
    assert lifeboat("--config", str(plan), "backup").code == 0
    res = lifeboat("--config", str(plan), "check", "--json")
    assert res.code == 21, res.stderr
    statuses = _statuses(res)
    assert res.json()["status"] == "critical"
    for check_id in ("owner", "cross-region", "alerts", "drill-age"):
        assert statuses[check_id] != "ok", (check_id, statuses)
    assert statuses["repositories"] == "ok" and statuses["last-backup"] == "ok"
    nagios = lifeboat("--config", str(plan), "check", "--nagios")
    assert (
        nagios.code == 2
        and nagios.stdout.startswith("LIFEBOAT CRITICAL - ")
        and len(nagios.stdout.splitlines()) == 1
    )


def test_a_tiny_oplog_makes_the_oplog_window_critical_with_the_size_needed(
    servers: ServerPool, tmp_path: Path
) -> None:
    source = servers.new(secantus_args=["--oplog-max-entries", "50"])
    workload.seed(source.client(), 100)
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[deployment]\nsource = "{source.uri}"\n[schedule]\nbase_backup = "0 */6 * * *"\n')
    res = lifeboat("--config", str(plan), "check", "--json", "--repo", "file://" + str(tmp_path / "none"))
    window = next(c for c in res.json()["checks"] if c["id"] == "oplog-window")
    assert window["status"] == "critical"
    assert "6h" in window["finding"] and "needs at least" in window["finding"]
    assert window["value"]["entries_needed"] > window["value"]["entries"]


def test_a_complete_plan_with_a_fresh_drill_and_a_running_archiver_passes(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src = source.client()
    uri = _with_password(source.uri, src)
    env = {"LB_TEST_SOURCE_PW": SECRET}
    repos = [Repository.init("file://" + str(tmp_path / name)) for name in ("eu", "us")]
    textfile = tmp_path / "lifeboat.prom"
    with webhook() as hook:
        plan = tmp_path / "plan.toml"
        plan.write_text(
            f"""
[deployment]
name = "orders-test"
source = "{uri}"
[owner]
name = "Test SRE"
contact = "sre@example.com"
[objectives]
rpo = "5m"
rto = "1h"
[[repository]]
name = "eu"
url = "{repos[0].url}"
region = "eu-west-1"
[[repository]]
name = "us"
url = "{repos[1].url}"
region = "us-east-1"
[schedule]
base_backup = "* * * * *"
[alerts]
notify = ["{hook.url}"]
prometheus_textfile = "{textfile}"
[drill]
staging = "{servers.new().uri}"
"""
        )
        run = ["--config", str(plan)]
        outputs = []
        r = lifeboat(*run, "-v", "backup", "--json", env=env)
        assert r.code == 0, r.stderr
        outputs.append(r)
        with archiving(repos[0], uri.replace("${LB_TEST_SOURCE_PW}", SECRET)):
            r = lifeboat(*run, "-v", "drill", "--json", env=env)
            assert r.code == 0, r.stderr
            outputs.append(r)
            drill = r.json()
            # The copy in the other region (here by hand; in production the store's replication).
            shutil.copytree(tmp_path / "eu", tmp_path / "us", dirs_exist_ok=True)
            res = lifeboat(*run, "-v", "check", "--json", env=env)
            outputs.append(res)
        outputs.append(lifeboat(*run, "plan", "show", "--json", env=env))
        outputs.append(lifeboat(*run, "-v", "plan", "show", env=env))
        payloads = hook.bodies
    assert res.code in (0, 20), res.stdout
    statuses = _statuses(res)
    assert {k for k, v in statuses.items() if v == "critical"} == set(), statuses
    assert statuses["oplog-window"] in ("ok", "warning")  # a young test oplog may be too young to judge
    for check_id in ("owner", "objectives", "repositories", "cross-region", "archiver",
                     "last-backup", "restorable", "drill-age", "drill-rto", "alerts"):  # fmt: skip
        assert statuses[check_id] == "ok", (check_id, res.json())
    assert drill["verdict"] == "pass" and drill["plan_name"] == "orders-test"

    # The metrics file was written by the check (the last run) and carries its values.
    families = {f.name: f for f in text_string_to_metric_families(textfile.read_text())}
    by_check = {s.labels["check"]: s.value for s in families["lifeboat_check_status"].samples}
    assert by_check == {k: {"ok": 0.0, "warning": 1.0, "critical": 2.0}[v] for k, v in statuses.items()}
    assert [s.labels["event"] for s in families["lifeboat_last_run_success"].samples] == ["check"]
    assert families["lifeboat_last_drill_passed"].samples[0].value == 1.0
    backup = outputs[0].json()
    assert families["lifeboat_last_backup_size_bytes"].samples[0].value == backup["stored_bytes"]
    assert any(json.loads(p)["title"].startswith("[lifeboat] orders-test: drill success") for p in payloads)

    # The password never shows: output, logs at -v, events, reports, metrics.
    for r in outputs:
        assert SECRET not in r.stdout and SECRET not in r.stderr
    assert "***" in outputs[-2].json()["deployment"]["source"]
    assert all(SECRET.encode() not in p for p in payloads)
    for repo_dir in (tmp_path / "eu", tmp_path / "us"):
        for f in repo_dir.rglob("*"):
            assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f
    assert SECRET not in textfile.read_text()


def test_notify_test_reports_each_destination(tmp_path: Path) -> None:
    with webhook() as hook:
        plan = tmp_path / "plan.toml"
        plan.write_text(f'[alerts]\nnotify = ["{hook.url}", "json://127.0.0.1:9/closed"]\n')
        res = lifeboat("--config", str(plan), "notify", "test", "--json")
        assert len(hook.payloads()) == 1
    assert res.code == 2
    destinations = res.json()["destinations"]
    assert [d["ok"] for d in destinations] == [True, False]
    assert destinations[1]["attempts"] == 3


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ('[backup]\njobs = "many"\n', "backup.jobs"),
        ('[owner]\nname = "x"\ncontact = "y"\nphone = "1"\n', "owner.phone"),
        ('[schedule]\ndrill = "every monday"\n', "schedule.drill"),
        ('[objectives]\nrto = "thirty minutes"\n', "objectives.rto"),
        ('[deployment]\nsource = "mongodb://u:${LB_TEST_NOT_SET}@h"\n', "LB_TEST_NOT_SET"),
    ],
)
def test_a_malformed_plan_is_refused_with_one_line_naming_the_key(
    tmp_path: Path, snippet: str, key: str
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(snippet)
    res = lifeboat("--config", str(plan), "check")
    assert res.code == 3
    assert len([line for line in res.stderr.splitlines() if line.startswith("error:")]) == 1
    assert key in res.error_lines[0]


def test_metrics_are_served_and_parse(seeded_source: SeededSource, tmp_path: Path) -> None:
    source = seeded_source(20)
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    backup = lifeboat("backup", "--json", "--source", source.uri, "--repo", repo.url)
    assert backup.code == 0, backup.stderr
    proc = popen("metrics", "--listen", "127.0.0.1:0", "--repo", repo.url)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the server says where it listens before it serves
        url = re.search(r"http://\S+/metrics", line)
        assert url, line
        with urllib.request.urlopen(url.group(0), timeout=30) as response:
            text = response.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["lifeboat_last_backup_size_bytes"].samples[0].value == backup.json()["stored_bytes"]
    assert families["lifeboat_restorable_windows"].samples[0].value == 1.0


def test_notify_urls_never_reach_the_verbose_log(tmp_path: Path) -> None:
    """Issue 20, item 5: Apprise's own debug log prints the URL it posts to, path and query."""
    with webhook() as hook:
        url = hook.url + "/hook/TOKENPATHabc123?token=QueryTok987"
        plan = tmp_path / "plan.toml"
        plan.write_text(f'[alerts]\nnotify = ["{url}"]\n')
        res = lifeboat("--config", str(plan), "-v", "notify", "test", "--json")
        assert len(hook.payloads()) == 1  # it was sent
    everything = res.stdout + res.stderr
    for part in ("TOKENPATHabc123", "QueryTok987", "/hook/"):
        assert part not in everything, everything
