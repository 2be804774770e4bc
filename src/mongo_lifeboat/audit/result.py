"""What a check returns, and how results add up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..remedies import Remedy, Wording, plain, worded
from ..timestamps import parse_iso
from .facts import Facts

Level = Literal["ok", "warning", "critical"]
_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Result:
    id: str
    status: Level
    finding: str
    hint: str = ""  # what to do, in words; ``{do}`` stands for the remedy, worded by the caller
    value: Any = None
    remedy: Remedy | None = None

    def worded_hint(self, word: Wording = plain) -> str:
        return worded(self.hint, self.remedy, word)

    def to_json(self, word: Wording = plain) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "finding": self.finding,
            "hint": self.worded_hint(word),
            "value": self.value,
            "remedy": {"action": self.remedy.action, **self.remedy.args} if self.remedy else None,
        }


def overall(results: list[Result]) -> Level:
    levels: list[Level] = ["ok", "warning", "critical"]
    return levels[max((_RANK[r.status] for r in results), default=0)]


def since(facts: Facts, iso_text: str) -> float:
    """Seconds from ``iso_text`` to the facts' now."""
    return (facts.now - parse_iso(iso_text)).total_seconds()
