"""The recovery plan (``lifeboat.toml``) -> validated, frozen settings; the one place where
command-line options, environment variables and the plan are merged.

Precedence for every setting: command-line option > environment variable > plan file.
Errors name the key path (``objectives.rpo: …``); unknown keys are errors; ``${VAR}`` is
read from the environment (a missing one is an error naming it), and every value read
so is treated as a secret from then on (never printed; see ``secrets``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
)

from . import secrets
from .errors import ConfigError, UsageError

# Read as config.* by callers too: the plan's value types are its vocabulary.
from .periods import (
    check_cron,
    format_duration,
    format_duration_or_never,
    parse_duration,
    parse_duration_or_never,
)
from .periods import cron_interval as cron_interval

DEFAULT_PLAN = Path("lifeboat.toml")

# -- value types -------------------------------------------------------------------------

Duration = Annotated[
    float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
# A duration that can be turned off: "never" (None).
DurationOrNever = Annotated[
    float | None,
    BeforeValidator(parse_duration_or_never),
    PlainSerializer(format_duration_or_never, return_type=str),
]
Cron = Annotated[str, AfterValidator(check_cron)]


# -- the plan ----------------------------------------------------------------------------


class _Section(BaseModel):
    # A plan's nan or inf would pass every comparison a threshold is put to: refused, named.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DeploymentSettings(_Section):
    # What people call it (in events, reports, alerts). The repository keys a deployment by
    # its replica set name, which Lifeboat reads from the server.
    name: str | None = None
    # The name the repository keeps it under (default: its replica set name). Two replica
    # sets that share a name (rs0 is everywhere) need different keys in one repository.
    key: str | None = None
    source: str | None = None
    member: str = "auto"  # hidden > secondary > primary
    timeout: Duration = 10.0
    capture: Literal["oplog", "change-stream", "auto"] = "oplog"  # where the archiver reads history


class Owner(_Section):
    name: str
    contact: str
    escalation: str | None = None


class Objectives(_Section):
    rpo: Duration | None = None
    rto: Duration | None = None


# Repository settings that are a credential whole (an Azure account key, or a connection
# string that holds one): never shown, and written as ${VAR} in a plan.
WHOLLY_SECRET_REPOSITORY_KEYS = ("account_key", "connection_string")


class RepositorySettings(_Section):
    name: str = "primary"
    url: str
    region: str | None = None
    # S3: where and how (else the standard AWS chain: AWS_ENDPOINT_URL, AWS_PROFILE, …).
    endpoint_url: str | None = None
    profile: str | None = None
    storage_class: str | None = None  # e.g. STANDARD_IA, GLACIER_IR
    # GCS (else Application Default Credentials; endpoint_url, if set, is the JSON API's).
    project: str | None = None
    credentials_file: str | None = None  # a service account's JSON key file
    # Azure (else AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_ACCOUNT_URL, and the key
    # from AZURE_STORAGE_KEY or DefaultAzureCredential). Secrets as ${VAR}, never literal.
    account_url: str | None = None  # https://ACCOUNT.blob.core.windows.net
    connection_string: str | None = None
    account_key: str | None = None
    # How long one request may keep failing (retried with backoff) before the command stops
    # with an error naming it: an outage longer than this fails the run, it never hangs it.
    timeout_s: float = Field(default=60.0, gt=0)
    # Write-once retention (S3 Object Lock, GCS object retention, Azure version-level
    # immutability; the bucket or container must allow it): backups and segments cannot be
    # deleted or overwritten for this many days, even with the repository's own credentials.
    object_lock_days: int = Field(default=0, ge=0)
    object_lock_mode: Literal["governance", "compliance"] = "governance"
    # Encryption at rest: the key (base64 of 32 bytes) from LIFEBOAT_ENCRYPTION_KEY, else this
    # file; keys of earlier rotations stay listed so older backups stay readable.
    key_file: str | None = None
    old_key_files: list[str] = Field(default_factory=list)
    # Or: the data key is generated and wrapped by this AWS KMS key (id, ARN or alias), and
    # only its wrapped copy is stored; opening the repository needs kms:Decrypt on it.
    kms_key_id: str | None = None
    # Retention (lifeboat prune): restore points this repository promises to keep.
    keep_last: int = Field(default=0, ge=0)
    keep_daily: int = Field(default=0, ge=0)
    keep_weekly: int = Field(default=0, ge=0)
    recovery_window: Duration | None = None  # every second of the last N stays restorable


class Schedule(_Section):
    base_backup: Cron | None = None
    drill: Cron | None = None


class Alerts(_Section):
    notify: list[str] = Field(default_factory=list)  # Apprise URLs
    prometheus_textfile: Path | None = None


class DrillSettings(_Section):
    staging: str = "scratch"  # or a MongoDB URI; never the source
    max_age: Duration = 90 * 86400.0
    after_change: DurationOrNever = 900.0  # the agent drills this long after the setup changed


class DetectConfig(_Section):
    """Live detection by the archiver (``oplog.detect``): what counts as an incident as it happens."""

    enabled: bool = True
    min_docs: int = Field(default=100, ge=1)  # a destructive operation this large (as lifeboat incidents)
    window: Duration = 10.0  # the change-rate window
    spike_factor: float = Field(default=10.0, gt=1)  # writes this many times a collection's usual...
    spike_min: int = Field(default=5000, ge=1)  # ...and at least this many in a window
    ransom_within: Duration = 300.0  # drops, then a note in a new collection within this long


class BackupSettings(_Section):
    jobs: int = Field(default=4, ge=1, le=64)
    chunk_mb: int = Field(default=64, ge=1, le=4096)


class RestoreSettings(_Section):
    jobs: int = Field(default=4, ge=1, le=64)


class SnapshotCommands(_Section):
    snapshot: str | None = None  # prints the provider's snapshot ids, one per line
    delete: str | None = None
    restore: str | None = None  # brings the member's data back from $LIFEBOAT_PROVIDER_IDS


class EbsSettings(_Section):
    volume_ids: list[str] = Field(default_factory=list)  # else: volumes tagged lifeboat:member=<host:port>
    region: str | None = None
    wait_s: float = Field(default=3600.0, gt=0)


class LvmSettings(_Section):
    volume_group: str
    logical_volume: str
    size: str = "10G"  # copy-on-write space for the snapshot


class ZfsSettings(_Section):
    dataset: str


class SnapshotSettings(_Section):
    """``lifeboat snapshot``: volume snapshots as point-in-time bases."""

    provider: Literal["command", "ebs", "lvm", "zfs"] = "command"
    consistency: Literal["fsync-lock", "journal", "cold"] = "fsync-lock"
    lock_timeout: Duration = 120.0  # fsync-lock: writes are never blocked longer than this
    member: str | None = None  # default: [deployment] member
    pre: str | None = None  # run before the snapshot (cold: stops the member)
    post: str | None = None  # run after it, whatever happened (cold: starts the member)
    command: SnapshotCommands | None = None
    ebs: EbsSettings | None = None
    lvm: LvmSettings | None = None
    zfs: ZfsSettings | None = None

    @property
    def configured(self) -> bool:
        """Whether the plan takes snapshots at all (a provider with what it needs is named)."""
        if self.provider == "command":
            return self.command is not None and bool(self.command.snapshot)
        if self.provider == "ebs":
            return True  # its volumes may be found by their tags, with no settings at all
        return (self.lvm if self.provider == "lvm" else self.zfs) is not None


class AgentSettings(_Section):
    """``lifeboat agent``: where its dashboard listens and how often it looks."""

    listen: str = "127.0.0.1:8077"  # HOST:PORT of the dashboard, /api and /metrics
    token: str | None = None  # needed (bearer, or basic-auth password) when listening beyond loopback
    allowed_hosts: list[str] = Field(default_factory=list)  # Host names answered besides loopback's
    check_interval: Duration = 300.0  # the plan's checks run this often, and after every job
    stop_grace: Duration = 600.0  # on SIGTERM, how long a running backup or drill may finish
    repeat: Duration = 86400.0  # a failure that goes on is said again after this long
    warmup: Duration = 60.0  # no check alert this soon after start (the archiver is starting)
    segment_seconds: float | None = Field(default=None, gt=0)  # the archiver's (default 1)
    # The dashboard may start a read-only mount of a chosen moment (lifeboat mount), kept this long.
    mounts: bool = False
    mount_ttl: Duration = 4 * 3600.0


class SamplingSettings(_Section):
    """The background read-back of the repository (``lifeboat verify --sample``, run by the
    agent): silent damage is found before a restore needs the object."""

    schedule: Cron | None = "30 4 * * *"  # when the agent runs it (daily); unset: never
    share: float = Field(default=0.05, gt=0, le=1)  # at least this share of the objects a run
    every: Duration = 7 * 86400.0  # and enough that every object is read back within this long


class ArchiverSettings(_Section):
    """``lifeboat stream`` (and the agent's archiver)."""

    drain_timeout: Duration = 30.0  # on SIGTERM, catch up for at most this long, then commit and exit
    # Compaction (lifeboat compact; the agent on compact_schedule): segments whose minute is
    # older than merge_minutes_after become one segment per minute, and whose hour is older than
    # merge_hours_after one per hour ("never": that level is off). See oplog.compaction.
    merge_minutes_after: DurationOrNever = 3600.0
    merge_hours_after: DurationOrNever = 86400.0
    merge_grace: Duration = 600.0  # a merge's sources stay this long, for readers that listed them
    compact_schedule: Cron | None = "*/15 * * * *"


class Plan(_Section):
    # The keys whose value came (wholly or partly) from ${VAR}: a secret elsewhere is literal.
    _from_env: set[str] = PrivateAttr(default_factory=set)
    format: Literal[1] = 1
    deployment: DeploymentSettings = DeploymentSettings()
    owner: Owner | None = None
    objectives: Objectives = Objectives()
    repository: list[RepositorySettings] = Field(default_factory=list)
    schedule: Schedule = Schedule()
    archiver: ArchiverSettings = ArchiverSettings()
    sampling: SamplingSettings = SamplingSettings()
    alerts: Alerts = Alerts()
    drill: DrillSettings = DrillSettings()
    detect: DetectConfig = DetectConfig()
    backup: BackupSettings = BackupSettings()
    restore: RestoreSettings = RestoreSettings()
    agent: AgentSettings = AgentSettings()
    snapshot: SnapshotSettings = SnapshotSettings()

    def shown(self) -> dict[str, Any]:
        """The plan as ``plan show`` prints it: every credential replaced by ``***``."""
        data = self.model_dump(mode="json")
        if data["deployment"]["source"]:
            data["deployment"]["source"] = secrets.redact(data["deployment"]["source"])
        data["drill"]["staging"] = secrets.redact(data["drill"]["staging"])
        for repo in data["repository"]:
            repo["url"] = secrets.redact(repo["url"])
            for key in WHOLLY_SECRET_REPOSITORY_KEYS:
                repo[key] = "***" if repo[key] else repo[key]
        data["alerts"]["notify"] = [secrets.redact_notify_url(u) for u in data["alerts"]["notify"]]
        if data["agent"]["token"]:
            data["agent"]["token"] = "***"
        owner = data.get("owner") or {}
        if owner.get("escalation") and "://" in owner["escalation"]:
            owner["escalation"] = secrets.redact_notify_url(owner["escalation"])
        snapshot = data["snapshot"]
        for hook in ("pre", "post"):
            if snapshot.get(hook):
                snapshot[hook] = secrets.redact_command(snapshot[hook])
        for name, command in (snapshot.get("command") or {}).items():
            if isinstance(command, str):
                snapshot["command"][name] = secrets.redact_command(command)
        return data


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(value: Any, path: tuple[int | str, ...], where: Path) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), where) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"plan file {where}: {_key_path(path)}: environment variable {name} is not set",
                f"export {name}=… before running lifeboat",
            )
        secrets.register(os.environ[name])
        return os.environ[name]

    return _VAR.sub(substitute, value)


def _env_keys(value: Any, path: tuple[int | str, ...]) -> list[str]:
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in _env_keys(v, (*path, key))]
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in _env_keys(v, (*path, i))]
    return [_key_path(path)] if isinstance(value, str) and _VAR.search(value) else []


def plan_path(path: Path | None) -> Path | None:
    """The plan file in effect: ``path``, else ``$LIFEBOAT_CONFIG``, else ``./lifeboat.toml`` if present."""
    if path is not None:
        return path
    env = os.environ.get("LIFEBOAT_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_PLAN if DEFAULT_PLAN.exists() else None


def load_plan(path: Path | None) -> Plan:
    """Load ``path``; with None, ``$LIFEBOAT_CONFIG`` or ``./lifeboat.toml`` if present, else defaults."""
    path = plan_path(path)
    if path is None:
        return Plan()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"plan file not found: {path}", "pass an existing file to --config") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"plan file {path} is not valid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read plan file {path}: {e}") from e
    data = _interpolate(raw, (), path)
    try:
        plan = Plan.model_validate(data)
        plan._from_env = set(_env_keys(raw, ()))
        return plan
    except ValidationError as e:
        err = e.errors()[0]
        key = _key_path(tuple(err["loc"])) or "(top level)"
        message = str(err["msg"]).removeprefix("Value error, ")
        more = f" (+{e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(f"plan file {path}: {key}: {message}{more}") from e


# -- merging: option > environment > plan ------------------------------------------------


def source_uri(cli_value: str | None, plan: Plan) -> str | None:
    return cli_value or os.environ.get("LIFEBOAT_SOURCE_URI") or plan.deployment.source


def named_repo(cli_value: str | None) -> str | None:
    """The repository named for this run (the option, else ``$LIFEBOAT_REPO``), if any."""
    return cli_value or os.environ.get("LIFEBOAT_REPO")


def repo_url(cli_value: str | None, plan: Plan) -> str:
    """The repository to use: the one named for this run (a URL, a path, or the name of one of
    the plan's repositories), or the plan's first one."""
    named = named_repo(cli_value)
    url = resolve_repo_name(named, plan) if named else (plan.repository[0].url if plan.repository else None)
    return require(url, "repository", "--repo URL", "LIFEBOAT_REPO", "[[repository]] url")


def resolve_repo_name(value: str, plan: Plan) -> str:
    """A plan repository's name -> its URL; a URL or a path as it is. A bare word that names
    no repository of the plan is an error, never a directory made where the command ran."""
    by_name = {r.name: r.url for r in plan.repository if r.name}
    if value in by_name:
        return by_name[value]
    if "://" in value or "/" in value or value.startswith((".", "~")):
        return value
    names = ", ".join(sorted(by_name)) or "none: no plan file, or no [[repository]] with a name"
    raise UsageError(
        f"no repository named {value!r} in the plan (its repositories: {names})",
        "name one of the plan's repositories, or give a URL: file:///path, s3://bucket/prefix "
        "(a directory here: ./" + value + ")",
    )


def repository_settings(url: str, plan: Plan) -> RepositorySettings:
    """The plan's settings for the repository at ``url`` (just the URL when the plan has none)."""
    return next((r for r in plan.repository if r.url == url), None) or RepositorySettings(url=url)


def target_uri(cli_value: str | None) -> str | None:
    """Restore targets are never taken from the plan: writing somewhere must be asked for."""
    return cli_value or os.environ.get("LIFEBOAT_TARGET_URI")


def deployment_key(cli_value: str | None, plan: Plan) -> str | None:
    """The repository name of the deployment being written: --deployment, else [deployment] key,
    else None (its replica set name, read from the server)."""
    return cli_value or plan.deployment.key


def member(cli_value: str | None, plan: Plan) -> str:
    return cli_value or plan.deployment.member


def timeout_ms(plan: Plan) -> int:
    return int(plan.deployment.timeout * 1000)


def require_source(given: str | None, plan: Plan) -> str:
    """The source URI from --source, $LIFEBOAT_SOURCE_URI or the plan; a usage error naming all three."""
    return require(
        source_uri(given, plan), "source URI", "--source URI", "LIFEBOAT_SOURCE_URI", "[deployment] source"
    )


def require(value: str | None, what: str, option: str, env: str, plan_key: str | None = None) -> str:
    if value:
        return value
    where = f"pass {option}, set {env}" + (f", or set {plan_key} in the plan" if plan_key else "")
    raise UsageError(f"no {what} given", where)
