"""Live detection: the archiver scores what it archives, so the 2 AM call comes from Lifeboat
seconds after the damage, with the exact undo ready.

Three signals, each per collection, on the entries of every committed segment:

- **destructive operations**: what ``lifeboat incidents`` finds (``oplog.incidents``, the same
  finder fed one unit at a time, so the id is the one ``undo`` and ``restore --to`` take);
- **change-rate spikes**: a collection whose writes in one window exceed both ``spike_min``
  and ``spike_factor`` times its own recent baseline (a moving average of past windows), the
  first windows only learning;
- **the ransom pattern**: databases or collections dropped, then within ``ransom_within_s``
  a new collection of a few documents carrying a note (``read me``, ``recover``, ``bitcoin``…).

What it cannot see: writes it does not archive (a change-stream capture sees what the stream
shows); damage done slowly, one document at a time below every threshold; a ransom note that
uses none of the words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..remedies import Remedy
from .apply.entries import units
from .incidents import Incident, IncidentFinder
from .streaks import seconds

RANSOM_WORDS = re.compile(r"read[\s_-]*me|recover|bitcoin|\bbtc\b|ransom|decrypt|restore your", re.IGNORECASE)
RANSOM_MAX_DOCS = 10


@dataclass(frozen=True)
class DetectSettings:
    min_docs: int = 100  # a destructive operation this large is an incident (as lifeboat incidents)
    window_s: float = 10.0  # the change-rate window
    spike_factor: float = 10.0
    spike_min: int = 5000  # writes in a window, before a spike is considered at all
    learn_windows: int = 6  # windows of a collection's history before its baseline is trusted
    settle_s: float = 2.0  # an operation with no entry for this long is over: say it
    ransom_within_s: float = 300.0


def detect_settings(plan: Any) -> DetectSettings | None:
    """The plan's ``[detect]`` as settings; None when it is off."""
    if not plan.enabled:
        return None
    return DetectSettings(
        min_docs=plan.min_docs,
        window_s=plan.window,
        spike_factor=plan.spike_factor,
        spike_min=plan.spike_min,
        ransom_within_s=plan.ransom_within,
    )


@dataclass(frozen=True)
class Detection:
    """What the archiver saw: an incident (its id is an incident id) or a spike."""

    kind: str  # an incident kind, "spike" or "ransom"
    ns: str
    count: int
    ts: str  # "seconds:increment" of its first entry
    wall: str
    incident_id: str | None  # what ``undo`` / ``restore --to`` take (None: a spike)
    summary: str
    remedy: Remedy | None

    def facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ns": self.ns,
            "count": self.count,
            "ts": self.ts,
            "wall": self.wall,
            "incident_id": self.incident_id,
        }


@dataclass
class _Rate:
    baseline: float = 0.0
    windows: int = 0


@dataclass
class LiveDetector:
    settings: DetectSettings = field(default_factory=DetectSettings)

    def __post_init__(self) -> None:
        self.finder = IncidentFinder(min_docs=self.settings.min_docs)
        self._window_start: datetime | None = None
        self._counts: Counter[str] = Counter()
        self._first: dict[str, tuple[str, str]] = {}
        self._rates: dict[str, _Rate] = {}
        self._drops: list[tuple[datetime, str]] = []  # (when, what) of recent drops
        self._new: dict[str, int] = {}  # collections created since a drop -> documents seen
        self._said: set[str] = set()

    def feed(self, entries: Iterable[Any]) -> list[Detection]:
        """The entries of a committed segment, in order; what they reveal so far."""
        out: list[Detection] = []
        for unit in units(entries):
            self.finder.feed(unit)
            if unit.wall is None:
                continue
            out += self._rate(unit.wall, [op.ns for op in unit.ops if op.op in "iud"], unit)
            out += self._ransom(unit)
        return out + self._incidents()

    def idle(self, now: datetime) -> list[Detection]:
        """Nothing new arrived: what has been quiet for ``settle_s`` is over and said."""
        self.finder.idle(now, self.settings.settle_s)
        return self._incidents()

    def _incidents(self) -> list[Detection]:
        out = []
        for incident in self.finder.take():
            if incident.id not in self._said:
                self._said.add(incident.id)
                out.append(self._incident(incident))
        return out

    def _incident(self, i: Incident) -> Detection:
        d = i.describe()
        if i.kind.startswith("bulk"):
            what = f"{i.count} documents"
        else:
            what = "the database" if i.kind == "dropDatabase" else "the collection"
        return Detection(
            i.kind,
            i.ns,
            i.count,
            d["ts"],
            d["wall"] or "",
            i.id,
            f"incident {i.id}: {i.kind} of {what} in {i.ns}",
            Remedy("undo-incident", {"incident": i.id}),
        )

    def _rate(self, wall: datetime, namespaces: list[str], unit: Any) -> list[Detection]:
        s = self.settings
        out = []
        if self._window_start is None:
            self._window_start = wall
        if seconds(self._window_start, wall) >= s.window_s:
            for ns, n in self._counts.items():
                rate = self._rates.setdefault(ns, _Rate())
                limit = max(s.spike_min, s.spike_factor * rate.baseline)
                if rate.windows >= s.learn_windows and n > limit:
                    ts, at = self._first[ns]
                    out.append(
                        Detection(
                            "spike",
                            ns,
                            n,
                            ts,
                            at,
                            None,
                            f"{n} writes to {ns} in {s.window_s:g}s, {n / max(rate.baseline, 1):.0f}x its usual",
                            Remedy("incidents"),
                        )
                    )
                rate.baseline = n if rate.windows == 0 else 0.8 * rate.baseline + 0.2 * n
                rate.windows += 1
            for ns, rate in self._rates.items():  # a quiet window counts as one for the baseline
                if ns not in self._counts:
                    rate.baseline *= 0.8
                    rate.windows += 1
            self._counts.clear()
            self._first.clear()
            self._window_start = wall
        for ns in namespaces:
            self._counts[ns] += 1
            self._first.setdefault(ns, (f"{unit.ts.time}:{unit.ts.inc}", wall.isoformat(timespec="seconds")))
        return out

    def _ransom(self, unit: Any) -> list[Detection]:
        s = self.settings
        wall = unit.wall
        self._drops = [
            (w, what) for w, what in self._drops if (wall - w).total_seconds() <= s.ransom_within_s
        ]
        out = []
        for op in unit.ops:
            if op.op == "c" and op.command in ("drop", "dropDatabase"):
                what = op.db if op.command == "dropDatabase" else f"{op.db}.{op.o.get('drop')}"
                self._drops.append((wall, what))
            elif op.op == "c" and op.command == "create" and self._drops:
                self._new[f"{op.db}.{op.o.get('create')}"] = 0  # (servers log an implicit create too)
            elif op.op == "i" and op.ns in self._new:
                seen = self._new[op.ns] + 1
                self._new[op.ns] = seen
                note = RANSOM_WORDS.search(_text(op.o))
                key = f"ransom:{op.ns}"
                if note and seen <= RANSOM_MAX_DOCS and key not in self._said:
                    self._said.add(key)
                    dropped = sorted({what for _, what in self._drops})
                    out.append(
                        Detection(
                            "ransom",
                            op.ns,
                            len(dropped),
                            f"{unit.ts.time}:{unit.ts.inc}",
                            wall.isoformat(timespec="seconds"),
                            None,
                            f"ransom pattern: {', '.join(dropped[:5])} dropped, then a note in {op.ns} "
                            f"({note.group(0)!r})",
                            Remedy("incidents"),
                        )
                    )
        return out


def _text(value: Any) -> str:
    """Every string in a document, keys included, joined (where a note's words would be)."""
    if isinstance(value, str):
        return value
    if hasattr(value, "items"):
        return " ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return ""
