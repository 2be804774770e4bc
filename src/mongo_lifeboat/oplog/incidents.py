"""Find destructive events in the archived oplog, so a restore can stop just before them.

Kinds: ``drop``, ``dropDatabase``, ``rename-over`` (renameCollection with dropTarget),
``bulk-delete`` and ``bulk-update``: a burst of entries of one kind on one namespace
(see :func:`find_incidents`), or many inside one transaction.

MongoDB 6.1+ logs a ``deleteMany`` as a series of small non-transaction ``applyOps``
entries (about ten deletes each), so the operations inside those count towards a burst
one by one, exactly like the single-entry deletes older servers log.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Timestamp

from ..timestamps import iso, to_hex16, to_str
from .entries import Op, Unit

INCIDENT_PREFIX = "inc-"
_BULK = {"d": "bulk-delete", "u": "bulk-update"}
# Stragglers before a burst are at least this far apart from it (see _Run.trimmed).
STRAGGLER_GAP_S = 0.1


@dataclass(frozen=True)
class Incident:
    ts: Timestamp
    wall: datetime | None
    ns: str
    kind: str
    count: int

    @property
    def id(self) -> str:
        return f"{INCIDENT_PREFIX}{to_hex16(self.ts)}"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": to_str(self.ts),
            "wall": iso(self.wall) if self.wall else None,
            "ns": self.ns,
            "kind": self.kind,
            "count": self.count,
            "restore_with": f"lifeboat restore --to {self.id}",
        }


@dataclass
class _Run:
    head: list[tuple[Timestamp, datetime | None]]  # the first entries, to find where the burst starts
    last_wall: datetime | None
    count: int

    HEAD = 1000

    def add(self, ts: Timestamp, wall: datetime | None) -> None:
        self.count += 1
        self.last_wall = wall
        if len(self.head) < self.HEAD:
            self.head.append((ts, wall))

    def trimmed(self) -> tuple[Timestamp, datetime | None, int]:
        """Start and count without stragglers: leading entries much further apart than the
        burst itself (a client's own single deletes just before a delete_many)."""
        walls = [w for _, w in self.head]
        if len(walls) < 3 or any(w is None for w in walls):
            return self.head[0][0], self.head[0][1], self.count
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(walls)]  # type: ignore[operator]
        # A pause inside the burst itself must never look like the end of the stragglers:
        # cutting into the burst would make "restore to just before it" miss deleted data.
        # A busy server pauses a deleteMany for a scheduler slice or a GC now and then, so
        # only a gap far above that noise separates stragglers; when in doubt they stay in
        # (a restore point slightly early is safe, one inside the burst is not).
        limit = max(10 * sorted(gaps)[len(gaps) // 2], STRAGGLER_GAP_S)
        # Stragglers are lone entries (one or two) each set apart by such a gap; the burst
        # starts at the first streak of three or more closely spaced entries.
        start = 0
        for i, gap in enumerate([*gaps, float("inf")]):
            if gap > limit:
                if i + 1 - start >= 3:
                    return self.head[start][0], self.head[start][1], self.count - start
                start = i + 1
        return self.head[0][0], self.head[0][1], self.count


def _ddl_incident(unit: Unit, op: Op, wall: datetime | None) -> Incident | None:
    name, o = op.command, op.o
    if name == "drop":
        return Incident(
            unit.ts, wall, f"{op.db}.{o['drop']}", "drop", int((op.o2 or {}).get("numRecords") or 0)
        )
    if name == "dropDatabase":
        return Incident(unit.ts, wall, op.db, "dropDatabase", 0)
    if name == "renameCollection" and o.get("dropTarget"):
        return Incident(unit.ts, wall, str(o.get("to")), "rename-over", 0)
    return None


def find_incidents(
    stream: Iterable[Unit],
    min_docs: int = 100,
    window_s: float = 1.0,
    min_rate: float = 50.0,
    ns_filter: Any = None,
) -> list[Incident]:
    """``stream``: units in oplog order.

    A bulk event is a burst of deletes (or updates) on one namespace, each at most
    ``window_s`` after the previous one (other clients' writes may interleave), at least
    ``min_docs`` of them at ``min_rate`` per second or more (the operations inside a
    non-transaction applyOps count one by one); or at least ``min_docs`` in one
    transaction. A slow trickle of single deletes is not a bulk event.
    """
    found: list[Incident] = []
    runs: dict[tuple[str, str], _Run] = {}

    def close(key: tuple[str, str]) -> None:
        run = runs.pop(key)
        ts, wall, count = run.trimmed()
        if count < min_docs:
            return
        seconds = (run.last_wall - wall).total_seconds() if run.last_wall and wall else 0.0
        if count / max(seconds, 1e-3) >= min_rate:
            found.append(Incident(ts, wall, key[0], _BULK[key[1]], count))

    for unit in stream:
        wall = unit.wall
        per_txn: dict[tuple[str, str], int] = {}
        if unit.transaction:  # a transaction big enough is an incident on its own
            counts = Counter(
                (op.ns, op.op)
                for op in unit.ops
                if op.op in _BULK and (ns_filter is None or ns_filter(op.ns))
            )
            per_txn = {key: n for key, n in counts.items() if n >= min_docs}
            for (ns, op_kind), count in per_txn.items():
                found.append(Incident(unit.ts, wall, ns, _BULK[op_kind], count))
        for op in unit.ops:
            target = f"{op.db}.{op.o.get(op.command, '')}" if op.op == "c" else op.ns
            if ns_filter is not None and not (ns_filter(target) or ns_filter(op.ns)):
                continue
            if op.op == "c":
                incident = _ddl_incident(unit, op, wall)
                if incident:
                    found.append(incident)
                continue
            if op.op not in _BULK:
                continue
            key = (op.ns, op.op)
            if key in per_txn:
                continue
            run = runs.get(key)
            if (
                run is not None
                and wall is not None
                and run.last_wall is not None
                and (wall - run.last_wall).total_seconds() > window_s
            ):
                close(key)
                run = None
            if run is None:
                runs[key] = run = _Run([], wall, 0)
            run.add(unit.ts, wall)
    for key in list(runs):
        close(key)
    return sorted(found, key=lambda i: i.ts)
