"""What a check returns, and how results add up."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..timestamps import parse_iso
from .facts import Facts

Level = Literal["ok", "warning", "critical"]
_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Result:
    id: str
    status: Level
    finding: str
    hint: str = ""
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def overall(results: list[Result]) -> Level:
    levels: list[Level] = ["ok", "warning", "critical"]
    return levels[max((_RANK[r.status] for r in results), default=0)]


def since(facts: Facts, iso_text: str) -> float:
    """Seconds from ``iso_text`` to the facts' now."""
    return (facts.now - parse_iso(iso_text)).total_seconds()
