"""Find destructive events in the archived oplog, so a restore can stop just before them.

Kinds: ``drop``, ``dropDatabase``, ``rename-over`` (renameCollection with dropTarget),
``bulk-delete`` and ``bulk-update``. An incident's position is the first entry of the
destructive operation itself, and its count is that operation's own, also while other
clients keep writing single documents in the same collection. How an operation's
entries are told from other clients' (most certain first):

1. Entries that carry a client command's ``lsid`` + ``txnNumber`` (a retryable write, or a
   transaction a server logs entry by entry) belong to that command: a command with at
   least ``min_docs`` deletes (updates) on one namespace is an incident, exactly; one
   with fewer is a client's single write and never part of a burst.
2. MongoDB 6.1+ logs a ``deleteMany`` as non-transaction ``applyOps`` entries of a few
   deletes each: those are bursts of their own, apart from plain single deletes beside them.
3. Otherwise (older servers, clients without retryable writes, servers that log every
   write alike) the burst is an **uninterrupted run**: entries of one namespace and kind with
   no plain write of another kind to that namespace and no command logged between them. A
   multi-document operation's entries are not interleaved with other kinds of writes to its
   own collection (SecantusDB logs a chunk of up to 1,000 at once; mongod's other writers
   carry sessions, rule 1), while busy clients writing single documents of several kinds to
   a collection interleave them: their runs stay short, however fast they write. A run of
   ``JOIN_RUN`` or more that is interrupted was a chunk of an operation: it goes on after.
   Inside a run, entries at most ``1 / min_rate`` apart
   form streaks; the burst runs from the first entry of its first streak of three or more to
   the last entry of its last such streak; a pause does not split it (a loaded machine pauses
   an operation for any length of time: the count must not depend on it) unless it is longer
   than ``window_s`` (unbounded by default). Entries stranded between streaks count when they
   are within 50 ms of the streaks on both sides; a lone write of the same kind further away
   ends the burst. What this cannot tell: clients that write only single documents of one
   kind to one collection, fast and alone, look like one operation (retryable writes, the
   drivers' default, tell them apart on MongoDB).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import Timestamp

from ..timestamps import iso, to_hex16, to_str
from .entries import Op, Unit

INCIDENT_PREFIX = "inc-"
_BULK = {"d": "bulk-delete", "u": "bulk-update"}
KIND_OP = {kind: op for op, kind in _BULK.items()}
DENSE_STREAK = 3  # entries: a streak this long is part of a burst, shorter ones are lone writes
# A few entries of a burst stranded by a pause (a busy server) sit this close to the rest; a
# client writing a few times a second does not.
STRAY_GAP_S = 0.05
# An uninterrupted run this long is an operation's own, never busy single writers of several
# kinds: when other clients' writes interrupt it (a server that commits a long operation in
# chunks lets them in between: SecantusDB every 1,000 entries), the operation goes on after them.
JOIN_RUN = 64
SESSION_IDLE_S = 60.0  # a client command's entries are all logged well within this


@dataclass(frozen=True)
class Incident:
    ts: Timestamp
    wall: datetime | None
    ns: str
    kind: str
    count: int
    # How its entries are recognised (see the module docstring): "command", "batched",
    # "burst" or "transaction" for bulk kinds; "" for DDL.
    form: str = ""
    # The position of its last operation, and the client command it came from ("command"
    # form): what tells one of its operations from another client's (``contains``).
    last: Timestamp | None = field(default=None, compare=False, repr=False)
    session: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{INCIDENT_PREFIX}{to_hex16(self.ts)}"

    @property
    def drops_collections(self) -> bool:
        return self.kind in ("drop", "dropDatabase", "rename-over")

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": to_str(self.ts),
            "wall": iso(self.wall) if self.wall else None,
            "ns": self.ns,
            "kind": self.kind,
            "count": self.count,
        }


def _seconds(a: datetime | None, b: datetime | None) -> float:
    return (b - a).total_seconds() if a is not None and b is not None else 0.0


@dataclass
class _Point:
    ts: Timestamp
    wall: datetime | None


@dataclass
class _Streaks:
    """Dense-streak detection for one (namespace, kind, form), in O(1) memory.

    ``tight``: the largest gap inside a streak; ``window``: the largest pause a burst spans.
    Dense streaks separated by a pause (a scheduler slice, a chunk boundary) are one burst,
    and so are a few entries stranded in such a pause when they sit within ``STRAY_GAP_S``
    of the streaks on both sides. Entries further apart are other clients' writes: they end
    the burst and are never counted in it.
    """

    tight: float
    window: float
    streak_start: _Point | None = None
    streak_n: int = 0
    last: _Point | None = None
    gap_before: float = 0.0  # before the current streak
    burst_start: _Point | None = None
    burst_end: _Point | None = None
    burst_n: int = 0
    pending: int = 0  # stranded entries after the burst's last dense streak
    run_n: int = 0  # entries since the last interruption
    closed: list[tuple[_Point, _Point, int]] = field(default_factory=list)

    def add(self, p: _Point, weight: int) -> list[tuple[_Point, _Point, int]]:
        """Feed one entry (``weight`` operations); returns the bursts that this entry closed."""
        gap = _seconds(self.last.wall, p.wall) if self.last is not None else None
        if gap is not None and gap > self.window:
            self._finish()
        elif gap is not None and gap > self.tight:
            self._end_streak(gap)
        if self.streak_start is None:
            self.streak_start, self.streak_n = p, 0
            self.gap_before = gap if gap is not None else float("inf")
        self.streak_n += weight
        self.run_n += weight
        self.last = p
        closed, self.closed = self.closed, []
        return closed

    def _end_streak(self, gap_after: float) -> None:
        if self.streak_start is None or self.last is None:
            return
        if self.streak_n >= DENSE_STREAK:
            if self.burst_start is None:
                self.burst_start, self.burst_n = self.streak_start, 0
            self.burst_n += self.pending + self.streak_n
            self.pending = 0
            self.burst_end = self.last
        elif self.burst_start is not None and max(self.gap_before, gap_after) <= STRAY_GAP_S:
            self.pending += self.streak_n
        else:
            self._close_burst()
        self.streak_start, self.streak_n = None, 0

    def _close_burst(self) -> None:
        if self.burst_start is not None and self.burst_end is not None:
            self.closed.append((self.burst_start, self.burst_end, self.burst_n))
        self.burst_start = self.burst_end = None
        self.burst_n = self.pending = 0

    def _finish(self) -> None:
        self._end_streak(float("inf"))
        self._close_burst()
        self.last = None

    def interrupt(self) -> list[tuple[_Point, _Point, int]]:
        """Another plain write was logged: a short run (and any burst in it) ends here; a long
        one was a chunk of an operation, which may go on after the writes between chunks."""
        long_run, self.run_n = self.run_n >= JOIN_RUN, 0
        if long_run:
            self._end_streak(0.0)
            return []
        return self.close()

    def close(self) -> list[tuple[_Point, _Point, int]]:
        self._finish()
        closed, self.closed = self.closed, []
        return closed


@dataclass
class _Command:
    """The entries of one client command (lsid + txnNumber) seen so far."""

    first: _Point
    last_wall: datetime | None
    session: bytes
    last_ts: Timestamp | None = None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)


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
    window_s: float = math.inf,
    min_rate: float = 50.0,
    ns_filter: Any = None,
) -> list[Incident]:
    """``stream``: units in oplog order. See the module docstring for the rules.

    A burst is an incident when it has at least ``min_docs`` operations at ``min_rate``
    per second or more (a slow trickle of single deletes is not one); a client command
    or a transaction when it has at least ``min_docs`` on one namespace.
    """
    found: list[Incident] = []
    tight = 1.0 / min_rate if min_rate > 0 else 1.0
    streaks: dict[tuple[str, str, str], _Streaks] = {}
    runs: dict[str, str] = {}  # namespace -> the kind of its plain writes' current run
    commands: dict[bytes, _Command] = {}
    last_sweep: datetime | None = None

    def burst_found(key: tuple[str, str, str], bursts: list[tuple[_Point, _Point, int]]) -> None:
        for start, end, count in bursts:
            seconds = _seconds(start.wall, end.wall)
            if count >= min_docs and count / max(seconds, 1e-3) >= min_rate:
                found.append(Incident(start.ts, start.wall, key[0], _BULK[key[1]], count, key[2], end.ts))

    def command_done(cmd: _Command) -> None:
        for (ns, op_kind), n in cmd.counts.items():
            if n >= min_docs:
                found.append(
                    Incident(
                        cmd.first.ts,
                        cmd.first.wall,
                        ns,
                        _BULK[op_kind],
                        n,
                        "command",
                        cmd.last_ts,
                        cmd.session,
                    )
                )

    def selected(op: Op) -> bool:
        if ns_filter is None:
            return True
        target = f"{op.db}.{op.o.get(op.command, '')}" if op.op == "c" else op.ns
        return bool(ns_filter(target) or ns_filter(op.ns))

    folding: list[Incident] = []  # drops just logged, which a dropDatabase or rename may be part of

    def ddl_found(incident: Incident, op: Op) -> None:
        """A dropDatabase (a rename over a collection) is logged by some servers after a drop of
        each collection it takes: those drops are its own; it starts at the first of them."""
        if incident.kind == "drop":
            folding.append(incident)
            found.append(incident)
            return
        own = [
            d
            for d in folding
            if (incident.kind == "dropDatabase" and d.ns.startswith(incident.ns + "."))
            or (incident.kind == "rename-over" and d.ns == incident.ns)
        ]
        for d in own:
            found.remove(d)
        folding.clear()
        if own:
            incident = Incident(
                own[0].ts, own[0].wall, incident.ns, incident.kind, sum(d.count for d in own), "", incident.ts
            )
        found.append(incident)

    for unit in stream:
        wall = unit.wall
        point = _Point(unit.ts, wall)
        if wall is not None and (last_sweep is None or _seconds(last_sweep, wall) > SESSION_IDLE_S / 4):
            last_sweep = wall
            for key_, cmd in list(commands.items()):
                if _seconds(cmd.last_wall, wall) > SESSION_IDLE_S:
                    command_done(commands.pop(key_))
        if unit.transaction:  # a transaction big enough is an incident on its own
            counts = Counter((op.ns, op.op) for op in unit.ops if op.op in _BULK and selected(op))
            for (ns, op_kind), n in counts.items():
                if n >= min_docs:
                    found.append(Incident(unit.ts, wall, ns, _BULK[op_kind], n, "transaction", unit.ts))
            continue
        weights: Counter[tuple[str, str, str]] = Counter()
        plain = _plain_run(unit)
        if (
            plain is not None
            and plain[1] != "c"
            and folding
            and any(d.ns.split(".", 1)[0] == plain[0].split(".", 1)[0] for d in folding)
        ):
            folding.clear()  # a write in the database between: the drops were drops of their own
        if plain is not None and plain[1] == "c":
            interrupted = list(runs.items())  # a command ends every run
            runs.clear()
        elif plain is not None and runs.get(plain[0]) not in (None, plain[1]):
            interrupted = [(plain[0], runs[plain[0]])]
            runs[plain[0]] = plain[1]
        else:
            interrupted = []
            if plain is not None:
                runs[plain[0]] = plain[1]
        for ns_kind in interrupted:
            if (ended := streaks.get((*ns_kind, "burst"))) is not None:
                burst_found((*ns_kind, "burst"), ended.interrupt())
        for op in unit.ops:
            if not selected(op):
                continue
            if op.op == "c":
                incident = _ddl_incident(unit, op, wall)
                if incident:
                    ddl_found(incident, op)
                elif op.command not in ("drop", "dropDatabase"):
                    folding.clear()
                continue
            if op.op not in _BULK:
                continue
            if op.session is not None:
                cmd = commands.setdefault(op.session, _Command(point, wall, op.session))
                cmd.counts[(op.ns, op.op)] += 1
                cmd.last_wall, cmd.last_ts = wall, unit.ts
                continue
            weights[(op.ns, op.op, "batched" if unit.batched else "burst")] += 1
        for key, weight in weights.items():
            tracker = streaks.setdefault(key, _Streaks(tight, window_s))
            burst_found(key, tracker.add(point, weight))
    for key, tracker in streaks.items():
        burst_found(key, tracker.close())
    for cmd in commands.values():
        command_done(cmd)
    return sorted(found, key=lambda i: (i.ts, i.ns, i.kind))


def _plain_run(unit: Unit) -> tuple[str, str] | None:
    """The (namespace, kind) of a plain write (no session, not batched) or ``("", "c")`` for a
    command: what continues or interrupts a run. None for what does neither (a no-op, a
    session's write: another client's retryable write never splits an operation)."""
    if unit.batched:
        return None
    for op in unit.ops:
        if op.op == "c":
            return ("", "c")
        if op.op in ("i", "u", "d") and op.session is None:
            return (op.ns, op.op)
    return None


def incident_ops(stream: Iterable[Unit], incident: Incident) -> Iterator[tuple[Timestamp, Op]]:
    """The operations of a bulk ``incident`` with their positions, in oplog order
    (``stream`` from its ``ts`` on).

    The inverse of :func:`find_incidents`: the first ``count`` operations on the incident's
    namespace and kind that were recognised the way the incident was."""
    op_kind = KIND_OP[incident.kind]
    left = incident.count
    session: bytes | None = None
    for unit in stream:
        if unit.ts < incident.ts:
            continue
        if incident.form == "transaction":
            if unit.ts == incident.ts and unit.transaction:
                yield from ((unit.ts, op) for op in unit.ops if op.ns == incident.ns and op.op == op_kind)
                return
            continue
        if unit.transaction:
            continue
        for op in unit.ops:
            if op.ns != incident.ns or op.op != op_kind:
                continue
            if incident.form == "command":
                if session is None:
                    session = op.session
                if op.session is None or op.session != session:
                    continue
            elif op.session is not None or (incident.form == "batched") != unit.batched:
                continue
            yield unit.ts, op
            left -= 1
            if left == 0:
                return


def contains(incident: Incident, unit: Unit, op: Op) -> bool:
    """Whether ``op`` (of ``unit``) is one of ``incident``'s own operations, told from other
    clients' writes beside it the way :func:`find_incidents` told them (as ``incident_ops``)."""
    if not incident.kind.startswith("bulk"):  # a drop, dropDatabase or rename over: its entries
        return incident.ts <= unit.ts <= (incident.last or incident.ts) and op.op == "c"
    if op.ns != incident.ns or op.op != KIND_OP[incident.kind]:
        return False
    if incident.form == "transaction":
        return unit.transaction and unit.ts == incident.ts
    if unit.transaction or not incident.ts <= unit.ts <= (incident.last or incident.ts):
        return False
    if incident.form == "command":
        return op.session is not None and op.session == incident.session
    return op.session is None and (incident.form == "batched") == unit.batched
