"""Prometheus metrics, from what the repository knows (the same facts ``check`` reads).

Written to the node_exporter textfile-collector path after every run, and served by
``lifeboat metrics --listen`` (each scrape reads the repository afresh).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .catalog.history import load_history
from .drill import report as drills
from .errors import BackupNotFound
from .repo import layout
from .repo.records import get_record
from .repo.repository import Repository
from .timestamps import parse_iso

log = logging.getLogger(__name__)

CHECK_LEVEL = {"ok": 0, "warning": 1, "critical": 2}


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_iso(text).timestamp()
    except ValueError:
        return None


def repository_measures(repo: Repository, deployment: str | None) -> dict[str, Any]:
    """Every value the metrics carry, read once from the repository. An empty one (nothing
    backed up or archived yet) is a finding of ``check``, not an error: no gauge but the
    counts of restorable windows, which are zero."""
    try:
        history = load_history(repo, deployment)
    except BackupNotFound:
        return {"deployment": deployment or "", "gaps": 0, "windows": 0, "checks": {}}
    name = history.deployment
    values: dict[str, Any] = {"deployment": name}
    if history.manifests:
        last = history.manifests[-1]
        values["last_backup_time"] = _epoch(last.finished_at)
        values["last_backup_duration"] = last.duration_s
        values["last_backup_bytes"] = sum(f.size for f in last.all_files())
    state = history.timeline.state or {}
    if state:
        values["archiver_lag"] = state.get("exposure_s", state.get("lag_s"))  # lag + the record's age
        values["archiver_running"] = 1.0 if state.get("running") else 0.0
        position = str(state.get("position") or "")
        if ":" in position:
            values["archiver_position"] = float(position.split(":", 1)[0])
    windows = history.timeline.windows
    values["gaps"] = len(history.timeline.gaps)
    values["windows"] = len(windows)
    main = history.timeline.main
    if main is not None:
        values["restorable_window"] = float(main.end.time - main.start.time)
    past = drills.history(repo.storage, name)
    if past:
        d = past[-1]
        values["last_drill_time"] = _epoch(d.finished_at)
        values["last_drill_duration"] = sum(d.phases.values())
        values["last_drill_passed"] = 1.0 if d.verdict == "pass" else 0.0
        values["last_drill_margin"] = d.margin
    values["detections"] = Counter(
        layout.detection_kind(o.key) for o in repo.storage.list(layout.detection_prefix(name))
    )
    checks = get_record(repo.storage, layout.check_result_key(name)) or {}
    values["checks"] = {c["id"]: CHECK_LEVEL.get(c["status"], 2) for c in checks.get("checks", [])}
    return values


_GAUGES = {
    "last_backup_time": ("lifeboat_last_backup_timestamp_seconds", "End of the newest complete base backup"),
    "last_backup_duration": ("lifeboat_last_backup_duration_seconds", "Duration of the newest base backup"),
    "last_backup_bytes": ("lifeboat_last_backup_size_bytes", "Stored size of the newest base backup"),
    "archiver_lag": ("lifeboat_archiver_lag_seconds", "How far the archived oplog is behind the source"),
    "archiver_running": ("lifeboat_archiver_running", "1 while an archiver holds its lease"),
    "archiver_position": (
        "lifeboat_archiver_position_timestamp_seconds",
        "Archived oplog position (seconds)",
    ),
    "restorable_window": ("lifeboat_restorable_window_seconds", "Length of the newest restorable window"),
    "gaps": ("lifeboat_restorable_gaps", "Gaps between restorable windows"),
    "windows": ("lifeboat_restorable_windows", "Restorable windows"),
    "last_drill_time": ("lifeboat_last_drill_timestamp_seconds", "End of the newest restore drill"),
    "last_drill_duration": ("lifeboat_last_drill_duration_seconds", "Duration of the newest drill"),
    "last_drill_passed": ("lifeboat_last_drill_passed", "1 when the newest drill passed"),
    "last_drill_margin": ("lifeboat_last_drill_rto_margin_seconds", "RTO minus the drill's recovery time"),
}


class RepositoryCollector(Collector):
    """Reads the repository on every collect (a scrape, or a textfile write)."""

    def __init__(self, repo: Repository, deployment: str | None) -> None:
        self.repo, self.deployment = repo, deployment

    def collect(self) -> Any:
        values = repository_measures(self.repo, self.deployment)
        labels = ["deployment"]
        for key, (name, help_text) in _GAUGES.items():
            if values.get(key) is None:
                continue
            family = GaugeMetricFamily(name, help_text, labels=labels)
            family.add_metric([values["deployment"]], float(values[key]))
            yield family
        family = GaugeMetricFamily(
            "lifeboat_check_status",
            "Last check per id: 0 ok, 1 warning, 2 critical",
            labels=[*labels, "check"],
        )
        for check, level in sorted(values["checks"].items()):
            family.add_metric([values["deployment"], check], float(level))
        yield family
        detected = CounterMetricFamily(
            "lifeboat_incidents_detected",
            "Incidents (and spikes, ransom patterns) the archiver detected as it archived, by kind",
            labels=[*labels, "kind"],
        )
        for kind, n in sorted(values.get("detections", {}).items()):
            detected.add_metric([values["deployment"], kind], float(n))
        yield detected


def registry_for(
    repo: Repository, deployment: str | None, last_run: dict[str, Any] | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(RepositoryCollector(repo, deployment))
    if last_run:
        ok = Gauge(
            "lifeboat_last_run_success",
            "1 when the run that wrote this file succeeded",
            ["event"],
            registry=registry,
        )
        ok.labels(last_run["event"]).set(1.0 if last_run["status"] != "failure" else 0.0)
        at = Gauge("lifeboat_last_run_timestamp_seconds", "When that run ended", ["event"], registry=registry)
        at.labels(last_run["event"]).set(_epoch(last_run["time"]) or 0.0)
    return registry


def write_textfile(
    path: Path, repo: Repository, deployment: str | None, last_run: dict[str, Any] | None = None
) -> None:
    """Atomically (write_to_textfile renames a temporary file into place)."""
    write_to_textfile(str(path), registry_for(repo, deployment, last_run))
