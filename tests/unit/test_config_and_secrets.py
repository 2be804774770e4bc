"""The plan file and secret redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from mongo_lifeboat.config import load_plan, repo_url, source_uri
from mongo_lifeboat.errors import ConfigError, LifeboatError
from mongo_lifeboat.secrets import redact


def test_valid_plan(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[source]\nuri = "mongodb://h:1"\n[[repositories]]\nurl = "file:///x"\nregion = "eu"\n')
    plan = load_plan(p)
    assert source_uri(None, plan) == "mongodb://h:1"
    assert repo_url(None, plan) == "file:///x"
    assert repo_url("file:///y", plan) == "file:///y"


def test_unknown_key_is_named_with_its_path(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[source]\nurl = "mongodb://h:1"\n')
    with pytest.raises(ConfigError, match=r"source\.url"):
        load_plan(p)


def test_bad_value_is_named_with_its_path(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text('[[repositories]]\nurl = "file:///x"\n[[repositories]]\nregion = 3\n')
    with pytest.raises(ConfigError, match=r"repositories\[1\]"):
        load_plan(p)


def test_invalid_toml(tmp_path: Path) -> None:
    p = tmp_path / "plan.toml"
    p.write_text("[source\n")
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
