"""The restorable timeline: windows of recovery from base backups through chained
segments, and the gaps between them. Pure functions (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from bson import Timestamp

from ..oplog.segments import Segment
from ..repo.manifest import Manifest
from ..timestamps import just_after, just_before, parse_iso, parse_position, to_str, wall_of
from .snapshots import SnapshotManifest


@dataclass
class Window:
    """Restorable to any position P with ``start < P <= end`` (P exclusive: entries < P applied).

    ``end`` is one increment past the last archived entry (everything archived applied), or
    further when the archiver confirmed that nothing was written after it until then.
    """

    start: Timestamp
    end: Timestamp
    backups: list[str] = field(default_factory=list)
    # A base newer than everything archived (a backup the archiver has not reached yet):
    # restorable at its own point only, until the archive passes it and it joins the window.
    ahead_of_archive: bool = False
    # The newest entry the window's archive holds (None: a base at its own point).
    last_entry: Timestamp | None = None

    def covers(self, p: Timestamp) -> bool:
        return self.start < p <= self.end

    @property
    def through(self) -> Timestamp:
        """The last position whose entry a restore to ``end`` applies: the newest archived entry
        (``end`` itself is exclusive, and may lie past it where the archiver confirmed that
        nothing was written since: never shown as a made-up position like ``t:4294967295``)."""
        if self.last_entry is not None and self.last_entry < self.end:
            return self.last_entry
        return just_before(self.end)

    def describe(self) -> dict[str, Any]:
        return {
            "start": to_str(self.start),
            "start_wall": wall_of(self.start),
            "end": to_str(self.end),
            "end_wall": wall_of(self.end),
            "through": to_str(self.through),
            "backups": self.backups,
            "ahead_of_archive": self.ahead_of_archive,
        }


@dataclass
class Timeline:
    windows: list[Window]
    gaps: list[tuple[Timestamp, Timestamp]]
    archived_to: Timestamp | None
    state: dict[str, Any] | None
    # Segments recorded as damaged, each a gap until repaired: {"key", "problem"}.
    damaged: list[dict[str, str]] = field(default_factory=list)
    # Base backups left out because an object of theirs is damaged: {"backup_id", "problem"}.
    damaged_bases: list[dict[str, str]] = field(default_factory=list)

    def window_for(self, p: Timestamp) -> Window | None:
        return next((w for w in reversed(self.windows) if w.covers(p)), None)

    def describe(self) -> dict[str, Any]:
        return {
            "windows": [w.describe() for w in self.windows],
            "gaps": [
                {"start": to_str(a), "end": to_str(b), "start_wall": wall_of(a), "end_wall": wall_of(b)}
                for a, b in self.gaps
            ],
            "archived_to": to_str(self.archived_to) if self.archived_to else None,
            "archiver": self.state,
            "damaged_segments": self.damaged,
            "damaged_bases": self.damaged_bases,
        }

    @property
    def main(self) -> Window | None:
        """The newest window the archive makes. A base the archiver has not reached yet is
        restorable too, but only at its own point: it is said beside this one, not instead."""
        spans = [w for w in self.windows if not w.ahead_of_archive]
        return spans[-1] if spans else (self.windows[-1] if self.windows else None)

    @property
    def ahead(self) -> list[Window]:
        """Bases newer than the main window that the archive has not reached yet."""
        main = self.main
        return [w for w in self.windows if w.ahead_of_archive and main is not None and w.start > main.start]

    def verdict(self) -> str:
        main = self.main
        broken = ""
        if self.damaged_bases:
            ids = ", ".join(b["backup_id"] for b in self.damaged_bases)
            broken = (
                f"; base backup{'s' if len(self.damaged_bases) != 1 else ''} {ids} damaged, so no window "
                "rests on it: repair it from another repository, or take a new backup"
            )
        if main is None:
            if broken:
                return "nothing restorable" + broken
            return "nothing restorable yet: take a base backup"
        latest = f"from {wall_of(main.start)} to {wall_of(main.end)}"
        ahead = "".join(
            f"; and to base backup {', '.join(w.backups)} at its own point {wall_of(w.end)} "
            "(the archive has not reached it yet)"
            for w in self.ahead
        )
        gaps = (
            f"; {len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''} in the archive" if self.gaps else ""
        )
        if self.damaged:
            n = len(self.damaged)
            gaps += f" ({n} damaged segment{'s' if n != 1 else ''}: repair from another repository)"
        separate = [w for w in self.windows if w not in self.ahead]
        if len(separate) == 1:
            return f"restorable {latest}{ahead}{gaps}{broken}"
        # Never one range over disjoint windows: what lies between them is not restorable.
        return f"restorable in {len(separate)} separate windows; the latest {latest}{ahead}{gaps}{broken}"


def _chains(segments: list[Segment]) -> list[tuple[Timestamp, Timestamp]]:
    chains: list[list[Timestamp]] = []
    for seg in segments:
        if chains and seg.start <= chains[-1][1]:
            chains[-1][1] = max(chains[-1][1], seg.end)
        else:
            chains.append([seg.start, seg.end])
    return [(a, b) for a, b in chains]


def build_timeline(
    manifests: list[Manifest],
    segments: list[Segment],
    state: dict[str, Any] | None = None,
    snapshots: Sequence[SnapshotManifest] = (),
) -> Timeline:
    chains = _chains(segments)
    gaps = [(chains[i][1], chains[i + 1][0]) for i in range(len(chains) - 1)]
    confirmed: Timestamp | None = None
    if state and state.get("position") and state.get("confirmed_at"):
        # The archiver saw no entry after ``position`` as of ``confirmed_at``.
        checked = parse_iso(state["confirmed_at"]).astimezone(UTC)
        confirmed = Timestamp(int(checked.timestamp()), 0)
        position = parse_position(state["position"])
    windows: dict[int, Window] = {}
    loose: dict[Timestamp, Window] = {}
    for m in sorted(manifests, key=lambda m: m.end):
        if not m.point_in_time_base:
            continue  # an imported dump without oplog: restorable only as it is
        idx = next((i for i, (a, b) in enumerate(chains) if a <= m.end <= b), None)
        if idx is None:  # restorable only at its own point; backups at the same point share it
            loose.setdefault(m.end, Window(m.end, just_after(m.end))).backups.append(m.backup_id)
            continue
        if idx not in windows:
            end = just_after(chains[idx][1])
            if confirmed is not None and position == chains[idx][1] and confirmed > end:
                end = confirmed
            windows[idx] = Window(m.end, end, last_entry=chains[idx][1])
        windows[idx].backups.append(m.backup_id)
    for snap in sorted(snapshots, key=lambda m: m.end):
        # A snapshot's data ends somewhere in [consistent_from, consistent_to]: it rolls forward
        # from any point after consistent_to when one chain holds both (and the entry itself).
        idx = next((i for i, (a, b) in enumerate(chains) if a < snap.start and snap.end <= b), None)
        if idx is None:
            continue  # not rollable forward: a snapshot restores only to itself (the provider's)
        if idx not in windows:
            end = just_after(chains[idx][1])
            if confirmed is not None and position == chains[idx][1] and confirmed > end:
                end = confirmed
            windows[idx] = Window(snap.end, end, last_entry=chains[idx][1])
        window = windows[idx]
        window.start = min(window.start, snap.end)
        window.backups.append(f"snapshot:{snap.snapshot_id}")
    archived_to = chains[-1][1] if chains else None
    for w in loose.values():
        w.ahead_of_archive = archived_to is not None and w.start >= archived_to
    all_windows = _merged(sorted([*windows.values(), *loose.values()], key=lambda w: w.start))
    return Timeline(all_windows, gaps, archived_to, state)


def _merged(windows: list[Window]) -> list[Window]:
    """Windows that touch are one window (a base at a chain's very end adds no new span)."""
    out: list[Window] = []
    for w in windows:
        if out and w.start <= out[-1].end:
            last = out[-1]
            last.end = max(last.end, w.end)
            entries = [e for e in (last.last_entry, w.last_entry) if e is not None]
            last.last_entry = max(entries) if entries else None
            last.backups += [b for b in w.backups if b not in last.backups]
            last.ahead_of_archive = last.ahead_of_archive and w.ahead_of_archive
        else:
            out.append(w)
    return out
