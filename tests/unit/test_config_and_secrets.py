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
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=hunter2==;EndpointSuffix=core.windows.net",
        "BlobEndpoint=https://acme.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=hunter2",
        "https://acme.blob.core.windows.net/c/k?sv=2024-11-04&sp=r&sig=hunter2",
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
        ('[drill]\nafter_change = "soon"\n', "drill.after_change", 'or "never" to turn it off'),
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
    from mongo_lifeboat.audit.safeguard_checks import literal_secrets
    from mongo_lifeboat.example_plan import EXAMPLE

    monkeypatch.setenv("LIFEBOAT_SOURCE_PASSWORD", "x-example")
    monkeypatch.setenv("LIFEBOAT_NOTIFY_URL", "json://hooks.example.com/lifeboat-token")
    p = tmp_path / "lifeboat.toml"
    p.write_text(EXAMPLE)
    plan = load_plan(p)
    assert plan.owner is not None and plan.objectives.rto == 1800 and plan.schedule.drill == "0 3 * * 1"
    assert literal_secrets(plan) == []  # the example passes its own secrets check


def test_azure_credentials_in_a_plan_are_never_shown_and_flagged_when_literal(tmp_path: Path) -> None:
    from mongo_lifeboat.audit.safeguard_checks import literal_secrets

    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        '[[repository]]\nurl = "azure://lifeboat/prod"\naccount_key = "hunter2key"\n'
        '[[repository]]\nname = "b"\nurl = "azure://lifeboat/dr"\nconnection_string = "${AZURE_CONN}"\n'
    )
    import os

    os.environ["AZURE_CONN"] = "AccountName=a;AccountKey=hunter3key=="
    try:
        plan = load_plan(plan_file)
    finally:
        del os.environ["AZURE_CONN"]
    shown = json.dumps(plan.shown())
    assert "hunter2key" not in shown and "hunter3key" not in shown
    assert [r["account_key"] for r in plan.shown()["repository"]] == ["***", None]
    assert literal_secrets(plan) == ["repository[0].account_key"]  # the other comes from ${VAR}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs:///prefix", "no bucket in gs:///prefix"),
        ("azure://ab/prefix", "no valid container in azure://ab/prefix"),
        ("azure://Upper-Case/p", "no valid container"),
        ("azure://double--hyphen/p", "no valid container"),
        ("ftp://host/p", "unsupported repository URL scheme 'ftp'"),
    ],
)
def test_a_repository_url_that_cannot_work_is_one_clear_error(url: str, message: str) -> None:
    from mongo_lifeboat.errors import UsageError
    from mongo_lifeboat.repo.backends import open_storage

    with pytest.raises(UsageError, match=message) as e:
        open_storage(url)
    assert "://" in e.value.hint


def test_an_azure_repository_without_an_account_says_where_to_name_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mongo_lifeboat.errors import UsageError
    from mongo_lifeboat.repo.backends import open_storage

    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError, match="no Azure storage account") as e:
        open_storage("azure://lifeboat/prod")
    assert "account_url" in e.value.hint


def test_a_cloud_backend_whose_extra_is_missing_names_the_extra() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; sys.modules['google'] = None  # as if google-cloud-storage were not installed\n"
        "from mongo_lifeboat.repo.backends import open_storage\n"
        "try:\n    open_storage('gs://bucket/prefix')\n"
        "except Exception as e:\n    print(type(e).__name__, e, '|', e.hint)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.startswith("UsageError GCS repositories need the gcs extra (google")
    assert out.strip().endswith("is not installed) | pip install 'mongo-lifeboat[gcs]'")


def test_gcs_without_credentials_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mongo_lifeboat.errors import RepositoryError
    from mongo_lifeboat.repo.backends import open_storage

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(RepositoryError, match="no usable Google credentials for gs://bucket/prefix") as e:
        open_storage("gs://bucket/prefix")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in e.value.hint
