"""Read a share of the repository back every day, so that silent damage is found before a
restore needs the object.

Objects are spread over a circle by a hash of their key; each day's run reads the arc that
follows the previous day's, so consecutive runs tile the circle: every object is read back
within ``ceil(1 / share)`` days, whatever is added or removed meanwhile (a new object lands
somewhere on the circle and is reached in turn). A run at another hour of the same day reads
the same arc again. What a run finds damaged is recorded (``repo.damage``): the
``repository`` check goes critical naming it, and ``lifeboat repair`` copies a good copy over
it. The last run is recorded beside the repository's marker for the check to judge.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..catalog.history import deployments
from ..oplog.segments import list_segments
from ..repo.damage import all_damaged, reconcile
from ..repo.integrity import verify_objects
from ..repo.manifest import FileEntry
from ..repo.repository import Repository
from ..repo.storage import ObjectMissing, Storage

RECORD_KEY = "lifeboat-sampling.json"


@dataclass
class SampleReport:
    at: str
    share: float  # the share of the objects this run read
    cycle_days: int  # every object is read back within this many days
    objects: int = 0  # in the repository
    checked: int = 0
    bytes: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # found by this run
    damaged: dict[str, str] = field(default_factory=dict)  # known now (this run's and earlier)

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "ok": not self.damaged}


def share_of(share: float, every_s: float) -> float:
    """The share a daily run reads: at least ``share``, and enough to cover every object
    within ``every_s``."""
    return min(1.0, max(share, 86400.0 / max(every_s, 86400.0)))


def _position(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / float(1 << 48)


def todays(key: str, share: float, day: int) -> bool:
    """Whether ``key`` lies on day ``day``'s arc of the circle."""
    return share >= 1.0 or (_position(key) - (day * share) % 1.0) % 1.0 < share


def _objects(repo: Repository) -> dict[str, list[FileEntry]]:
    """Every object with a checksum to read it against, by deployment name."""
    out: dict[str, list[FileEntry]] = {}
    for b in repo.list_backups():
        if b.manifest is not None:
            out.setdefault(b.manifest.deployment, []).extend(b.manifest.all_files())
    for deployment in deployments(repo):
        out.setdefault(deployment, []).extend(s.file for s in list_segments(repo.storage, deployment))
    return out


def sample(repo: Repository, share: float, now: datetime | None = None, jobs: int = 4) -> SampleReport:
    now = now or datetime.now(UTC)
    day = (now - datetime(1970, 1, 1, tzinfo=UTC)).days
    report = SampleReport(now.isoformat(timespec="seconds"), share, math.ceil(1 / share))
    for deployment, entries in _objects(repo).items():
        report.objects += len(entries)
        chosen = [e for e in entries if todays(e.key, share, day)]
        checked = verify_objects(repo.storage, f"sample:{deployment}", chosen, jobs)
        report.checked += checked.objects
        report.bytes += checked.bytes
        found = {p["object"]: p["problem"] for p in checked.problems}
        reconcile(repo.storage, deployment, [e.key for e in chosen], found)
        report.problems.update(found)
    report.damaged = all_damaged(repo)
    record = {k: v for k, v in report.describe().items() if k not in ("problems", "damaged")}
    repo.storage.put(RECORD_KEY, io.BytesIO(json.dumps({**record, "damaged": len(report.damaged)}).encode()))
    return report


def last_sample(storage: Storage) -> dict[str, Any] | None:
    try:
        with storage.get(RECORD_KEY) as f:
            return dict(json.loads(f.read()))
    except (ObjectMissing, ValueError):
        return None
