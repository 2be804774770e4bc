"""The drill report: what was restored, how long each phase took against the RTO, and what
the proof found. Stored in the repository (``<deployment>/drills/<id>.json``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import DrillNotFound
from ..repo import layout
from ..repo.records import get_record, list_records, put_record
from ..repo.storage import Storage
from .fingerprint import Fingerprint

# The phases a recovery consists of, in order; ``proof`` is the drill's own overhead.
RECOVERY_PHASES = ("fetch_verify", "load", "replay", "indexes", "users")


class DrillReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    deployment: str
    plan_name: str | None = None
    verdict: Literal["pass", "fail"]
    started_at: str
    finished_at: str
    target_ts: str
    target_wall: str
    base_backup: str
    staging: str
    scope: list[str] = Field(default_factory=list)  # --ns-include patterns; empty: everything
    phases: dict[str, float]  # seconds, RECOVERY_PHASES then proof
    recovery_s: float  # the restore itself (every phase but the proof)
    projected_recovery_s: float | None = None  # a subset drill, scaled to the whole backup
    rto: float | None = None
    margin: float | None = None  # rto minus the (projected) recovery time
    objects_verified: int = 0
    collections: int = 0
    documents_restored: int = 0
    documents_compared: int = 0
    documents_skipped: int = 0
    collections_at_t: int = 0  # proven exactly, against snapshot reads of the source at T
    skipped: dict[str, int] = Field(default_factory=dict)  # reason -> documents
    failures: list[dict[str, Any]] = Field(default_factory=list)
    fingerprint: Fingerprint | None = None  # what it proved: the plan, the deployment, Lifeboat

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def new_drill_id(now: datetime | None = None) -> str:
    """Like a backup id, to the millisecond (two drills in one second keep their own)."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S.") + f"{now.microsecond // 1000:03d}Z"


def store(storage: Storage, report: DrillReport) -> None:
    put_record(storage, layout.drill_key(report.deployment, report.id), report.to_json())


def history(storage: Storage, deployment: str) -> list[DrillReport]:
    """Every stored drill of ``deployment``, oldest first."""
    out = []
    for key in list_records(storage, layout.drill_prefix(deployment)):
        record = get_record(storage, key)
        if record is not None:
            out.append(DrillReport.model_validate(record))
    return sorted(out, key=lambda r: r.id)


def load(storage: Storage, deployment: str, drill_id: str) -> DrillReport:
    drills = history(storage, deployment)
    if drill_id == "latest" and drills:
        return drills[-1]
    match = next((d for d in drills if d.id == drill_id), None)
    if match is None:
        raise DrillNotFound(f"no drill {drill_id} for {deployment}")
    return match
