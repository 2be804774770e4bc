"""The JSON documents Lifeboat prints with ``--json`` that the agent's API serves too: one
builder each, so the CLI and ``/api/…`` can never disagree."""

from __future__ import annotations

from typing import Any

from .backup import housekeeping
from .catalog.history import History
from .drill.report import DrillReport
from .repo.manifest import Manifest
from .repo.repository import Repository
from .timestamps import parse_position, wall_of


def _ts_fields(text: str) -> dict[str, str]:
    return {"ts": text, "wall": wall_of(parse_position(text))}


def manifest_summary(m: Manifest) -> dict[str, Any]:
    return {
        "backup_id": m.backup_id,
        "status": "complete",
        "deployment": m.deployment,
        "member": m.member,
        "server_version": m.server_version,
        "fcv": m.fcv,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "duration_s": m.duration_s,
        "start_ts": m.start_ts,
        "end_ts": m.end_ts,
        "consistent_at": _ts_fields(m.end_ts),
        "documents": m.documents,
        "bytes": sum(c.raw_bytes for c in m.collections),
        "stored_bytes": m.stored_bytes,
        "oplog_entries": m.oplog.entries,
        "capture": m.oplog.capture,
        "phases": m.phases,
        "tool_version": m.tool_version,
        "imported_from": m.imported_from.model_dump() if m.imported_from else None,
    }


def backups_document(repository: Repository) -> dict[str, Any]:
    """``lifeboat list --json``."""
    rows: list[dict[str, Any]] = []
    for b in repository.list_backups():
        if b.manifest is not None:
            rows.append(manifest_summary(b.manifest))
        else:
            state = housekeeping.status(repository, b)
            row = {"backup_id": b.backup_id, "status": state, "deployment": b.deployment_key}
            rows.append({**row, "damage": b.damaged} if b.damaged else row)
    return {"repository": repository.url, "backups": rows}


def timeline_document(history: History) -> dict[str, Any]:
    """``lifeboat timeline --json``."""
    t = history.timeline
    foreign = [{"backup_id": b, "reason": why} for b, why in sorted(history.foreign.items())]
    return {
        "deployment": history.deployment,
        "verdict": t.verdict(),
        **t.describe(),
        "foreign_bases": foreign,
    }


def drill_rows(past: list[DrillReport]) -> list[dict[str, Any]]:
    """``lifeboat drill list --json``."""
    return [
        {
            "id": d.id,
            "verdict": d.verdict,
            "target_ts": d.target_ts,
            "recovery_s": d.recovery_s,
            "projected_recovery_s": d.projected_recovery_s,
            "margin": d.margin,
            "documents_compared": d.documents_compared,
            "failures": len(d.failures),
        }
        for d in past
    ]
