"""The plan file and secret redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mongo_lifeboat.config import (
    cron_interval,
    format_duration,
    load_plan,
    parse_duration,
    repo_url,
    source_uri,
)
from mongo_lifeboat.errors import ConfigError, LifeboatError
from mongo_lifeboat.secrets import redact


def test_valid_plan(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[deployment]\nsource = "mongodb://h:1"\n[[repository]]\nurl = "file:///x"\nregion = "eu"\n')
    plan = load_plan(p)
    assert source_uri(None, plan) == "mongodb://h:1"
    assert repo_url(None, plan) == "file:///x"
    assert repo_url("file:///y", plan) == "file:///y"


def test_unknown_key_is_named_with_its_path(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[deployment]\nurl = "mongodb://h:1"\n')
    with pytest.raises(ConfigError, match=r"deployment\.url"):
        load_plan(p)


def test_bad_value_is_named_with_its_path(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[[repository]]\nurl = "file:///x"\n[[repository]]\nregion = 3\n')
    with pytest.raises(ConfigError, match=r"repository\[1\]"):
        load_plan(p)


def test_invalid_toml(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text("[deployment\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_plan(p)


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_plan(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "text",
    [
        "mongodb://admin:hunter2@db1:27017,db2:27017/?replicaSet=rs0",
        "mongodb+srv://u:hunter2@cluster.example/",
        "s3://KEY:hunter2@bucket/prefix",
        "connect password=hunter2 now",
        "tlsCertificateKeyFilePassword=hunter2&x=1",
    ],
)
def test_redaction(text: str) -> None:
    out = redact(text)
    assert "hunter2" not in out and "***" in out


def test_errors_are_redacted_at_construction() -> None:
    e = LifeboatError("cannot reach mongodb://u:hunter2@h:1", "try mongodb://u:hunter2@h:2")
    assert "hunter2" not in str(e) and "hunter2" not in e.hint


FULL_PLAN = """
[deployment]
name = "orders-prod"
source = "mongodb://backup:${LB_TEST_PW}@db1:27017,db2:27017/?replicaSet=rs0"

[owner]
name = "Payments SRE"
contact = "sre-payments@example.com"

[objectives]
rpo = "5m"
rto = "1h30m"

[[repository]]
name = "primary"
url = "file:///var/backups/lifeboat"
region = "eu-west-1"

[schedule]
base_backup = "0 */6 * * *"
drill = "0 3 * * 1"

[alerts]
notify = ["json://hooks.example.com/lifeboat?token=${LB_TEST_TOKEN}", "slack://T000/B000/${LB_TEST_TOKEN}"]

[drill]
max_age = "14d"
"""


def test_the_whole_plan_reads_with_durations_cron_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LB_TEST_PW", "s3cr3t-pw")
    monkeypatch.setenv("LB_TEST_TOKEN", "tok-abcdef")
    p = tmp_path / "plan.toml"
    p.write_text(FULL_PLAN)
    plan = load_plan(p)
    assert plan.objectives.rpo == 300 and plan.objectives.rto == 5400
    assert plan.drill.max_age == 14 * 86400
    assert cron_interval(plan.schedule.base_backup or "") == 6 * 3600
    assert source_uri(None, plan) == "mongodb://backup:s3cr3t-pw@db1:27017,db2:27017/?replicaSet=rs0"
    shown = json.dumps(plan.shown())
    assert "s3cr3t-pw" not in shown and "tok-abcdef" not in shown and "T000" not in shown
    assert '"rto": "1h30m"' in shown and "hooks.example.com" in shown
    # Values read from the environment are secrets wherever they turn up later.
    assert "s3cr3t-pw" not in redact("auth failed for password s3cr3t-pw")


@pytest.mark.parametrize(
    ("snippet", "key", "what"),
    [
        ('[objectives]\nrpo = "5 minutes"\n', "objectives.rpo", "not a duration"),
        ("[objectives]\nrto = 30\n", "objectives.rto", "write a unit"),
        ('[schedule]\nbase_backup = "every day"\n', "schedule.base_backup", "not a cron expression"),
        ('[schedule]\ndrill = "61 * * * *"\n', "schedule.drill", "not a cron expression"),
        ('[owner]\nname = "x"\n', "owner.contact", "Field required"),
        ('[alerts]\nnotify = "json://x"\n', "alerts.notify", "valid list"),
        ('[drill]\nstagin = "scratch"\n', "drill.stagin", "Extra inputs"),
        (
            '[deployment]\nsource = "mongodb://u:${LB_TEST_UNSET_VAR}@h"\n',
            "deployment.source",
            "LB_TEST_UNSET_VAR",
        ),
    ],
)
def test_a_malformed_plan_names_the_key(tmp_path: Path, snippet: str, key: str, what: str) -> None:
    p = tmp_path / "plan.toml"
    p.write_text(snippet)
    with pytest.raises(ConfigError) as e:
        load_plan(p)
    assert key in e.value.message and what in e.value.message
    assert "\n" not in e.value.message


def test_durations_round_trip() -> None:
    for text, seconds in [("90s", 90), ("5m", 300), ("6h", 21600), ("14d", 1209600), ("250ms", 0.25)]:
        assert parse_duration(text) == seconds
        assert parse_duration(format_duration(seconds)) == seconds


def test_plan_init_writes_an_example_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mongo_lifeboat.example_plan import EXAMPLE

    monkeypatch.setenv("LIFEBOAT_SOURCE_PASSWORD", "x-example")
    p = tmp_path / "lifeboat.toml"
    p.write_text(EXAMPLE)
    plan = load_plan(p)
    assert plan.owner is not None and plan.objectives.rto == 1800 and plan.schedule.drill == "0 3 * * 1"
