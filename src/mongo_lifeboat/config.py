"""The plan file (TOML) -> validated, frozen settings, with errors that name the key path.

Precedence for every setting: command-line option > environment variable > plan file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

DEFAULT_PLAN = Path("lifeboat.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSettings(_Section):
    uri: str | None = None
    member: str = "auto"
    timeout_s: float = Field(default=10.0, gt=0)


class RepositorySettings(_Section):
    name: str = "repo1"
    url: str
    region: str | None = None


class BackupSettings(_Section):
    jobs: int = Field(default=4, ge=1, le=64)
    chunk_mb: int = Field(default=64, ge=1, le=4096)


class RestoreSettings(_Section):
    jobs: int = Field(default=4, ge=1, le=64)


class Plan(_Section):
    deployment: str | None = None
    owner: str | None = None
    source: SourceSettings = SourceSettings()
    repositories: list[RepositorySettings] = Field(default_factory=list)
    backup: BackupSettings = BackupSettings()
    restore: RestoreSettings = RestoreSettings()
    format: Literal[1] = 1


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_plan(path: Path | None) -> Plan:
    """Load ``path``; with None, ``./lifeboat.toml`` if present, else defaults."""
    if path is None:
        if not DEFAULT_PLAN.exists():
            return Plan()
        path = DEFAULT_PLAN
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"plan file not found: {path}", "pass an existing file to --config") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"plan file {path} is not valid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read plan file {path}: {e}") from e
    try:
        return Plan.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = _key_path(tuple(err["loc"])) or "(top level)"
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"plan file {path}: {key}: {err['msg']}{more}") from e


def source_uri(cli_value: str | None, plan: Plan) -> str | None:
    return cli_value or os.environ.get("LIFEBOAT_SOURCE_URI") or plan.source.uri


def repo_url(cli_value: str | None, plan: Plan) -> str | None:
    if cli_value:
        return cli_value
    if os.environ.get("LIFEBOAT_REPO"):
        return os.environ["LIFEBOAT_REPO"]
    return plan.repositories[0].url if plan.repositories else None
