"""Find destructive events in the archived oplog, so a restore can stop just before them.

Kinds: ``drop``, ``dropDatabase``, ``rename-over`` (renameCollection with dropTarget),
``bulk-delete`` and ``bulk-update``: at least ``min_docs`` entries of one kind on one
namespace within ``window_s`` seconds, or inside one transaction / applyOps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Timestamp

from ..timestamps import iso, to_hex16, to_str
from .entries import Op, Unit

INCIDENT_PREFIX = "inc-"


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
    ts: Timestamp
    wall: datetime | None
    count: int


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
    window_s: float = 10.0,
    ns_filter: Any = None,
) -> list[Incident]:
    """``stream``: units in oplog order.

    A run is an uninterrupted sequence of deletes (or updates) on one namespace: any other
    kind of write to that namespace, or ``window_s`` passing, ends it. A steady trickle of
    single deletes among other writes is therefore not a bulk delete; a delete_many is.
    """
    found: list[Incident] = []
    runs: dict[str, tuple[str, _Run]] = {}

    def close(ns: str) -> None:
        kind, run = runs.pop(ns)
        if run.count >= min_docs:
            found.append(
                Incident(run.ts, run.wall, ns, "bulk-delete" if kind == "d" else "bulk-update", run.count)
            )

    for unit in stream:
        wall = unit.wall
        grouped = unit.transaction or len(unit.ops) > 1
        per_unit: dict[tuple[str, str], int] = {}
        for op in unit.ops:
            target = f"{op.db}.{op.o.get(op.command, '')}" if op.op == "c" else op.ns
            if ns_filter is not None and not (ns_filter(target) or ns_filter(op.ns)):
                continue
            if op.op == "c":
                incident = _ddl_incident(unit, op, wall)
                if incident:
                    found.append(incident)
                continue
            if grouped:
                per_unit[(op.ns, op.op)] = per_unit.get((op.ns, op.op), 0) + 1
                continue
            current = runs.get(op.ns)
            if current is not None:
                kind, run = current
                expired = (
                    wall is not None and run.wall is not None and (wall - run.wall).total_seconds() > window_s
                )
                if kind != op.op or expired:
                    close(op.ns)
                    current = None
                else:
                    run.count += 1
            if current is None and op.op in ("d", "u"):
                runs[op.ns] = (op.op, _Run(unit.ts, wall, 1))
        for (ns, kind), count in per_unit.items():
            if kind in ("d", "u") and count >= min_docs:
                found.append(
                    Incident(unit.ts, wall, ns, "bulk-delete" if kind == "d" else "bulk-update", count)
                )
    for ns in list(runs):
        close(ns)
    return sorted(found, key=lambda i: i.ts)
