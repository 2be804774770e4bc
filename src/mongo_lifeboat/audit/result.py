"""What a check returns, and how results add up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..timestamps import parse_iso
from .facts import Facts

Level = Literal["ok", "warning", "critical"]
_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Remedy:
    """What to do about a finding, as a fact: an action and what it applies to. The audit never
    names a command or a flag; each front end words the remedy in its own terms (the command
    line as the command to run, ``cli.remedies``; the agent as what it does or shows,
    ``agent.remedies``)."""

    action: str  # one of PLAIN's keys
    args: dict[str, str] = field(default_factory=dict)


Wording = Callable[[Remedy], str]

# The remedies in plain words: what a caller that words none of its own shows.
PLAIN = {
    "backup": "take a base backup",
    "stream": "run the archiver",
    "drill": "run a restore drill",
    "drill-show": "read the last drill's report",
    "notify-test": "send a test notification",
    "copy": "copy the backups and the archive of {source} to {target}",
    "repair": "repair {repo} from {source}",
    "verify-sample": "read a sample of repository {repo} back",
    "check-again": "check again",
    "plan-show": "show the plan as loaded",
}


def plain(remedy: Remedy) -> str:
    return PLAIN[remedy.action].format(**remedy.args)


@dataclass(frozen=True)
class Result:
    id: str
    status: Level
    finding: str
    hint: str = ""  # what to do, in words; ``{do}`` stands for the remedy, worded by the caller
    value: Any = None
    remedy: Remedy | None = None

    def worded_hint(self, word: Wording = plain) -> str:
        if self.remedy is None:
            return self.hint
        done = word(self.remedy)
        return self.hint.replace("{do}", done) if "{do}" in self.hint else done

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
