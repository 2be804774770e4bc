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
from .apply.entries import Op, Unit
from .streaks import Point as _Point
from .streaks import Streaks as _Streaks
from .streaks import seconds as _seconds

INCIDENT_PREFIX = "inc-"
_BULK = {"d": "bulk-delete", "u": "bulk-update"}
KIND_OP = {kind: op for op, kind in _BULK.items()}
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
    finder = IncidentFinder(min_docs, window_s, min_rate, ns_filter)
    for unit in stream:
        finder.feed(unit)
    finder.close()
    return sorted(finder.take(), key=lambda i: (i.ts, i.ns, i.kind))


class IncidentFinder:
    """:func:`find_incidents` one unit at a time, for a reader that cannot wait for the end of
    the stream (the archiver's live detection): ``take`` hands out the incidents that are final
    so far; ``idle`` closes what has seen nothing new for a while."""

    def __init__(
        self, min_docs: int = 100, window_s: float = math.inf, min_rate: float = 50.0, ns_filter: Any = None
    ) -> None:
        self.min_docs, self.window_s, self.min_rate, self.ns_filter = min_docs, window_s, min_rate, ns_filter
        self.tight = 1.0 / min_rate if min_rate > 0 else 1.0
        self.found: list[Incident] = []
        self.streaks: dict[tuple[str, str, str], _Streaks] = {}
        self.runs: dict[str, str] = {}  # namespace -> the kind of its plain writes' current run
        self.commands: dict[bytes, _Command] = {}
        self.folding: list[Incident] = []  # drops just logged: a dropDatabase or rename may own them
        self._last_sweep: datetime | None = None

    def take(self) -> list[Incident]:
        """The incidents found so far that nothing later can change (a drop that a dropDatabase
        logged right after it may still take is held back)."""
        ready = [i for i in self.found if i not in self.folding]
        self.found = [i for i in self.found if i in self.folding]
        return ready

    def idle(self, now: datetime, after_s: float) -> None:
        """Close every burst and command that has seen no entry for ``after_s`` by ``now``
        (the wall clock of the server's entries), and let held drops go."""
        for key, tracker in self.streaks.items():
            if tracker.last is not None and _seconds(tracker.last.wall, now) > after_s:
                self._burst_found(key, tracker.close())
        for session, cmd in list(self.commands.items()):
            if _seconds(cmd.last_wall, now) > after_s:
                self._command_done(self.commands.pop(session))
        if self.folding and _seconds(self.folding[-1].wall, now) > after_s:
            self.folding.clear()

    def close(self) -> None:
        for key, tracker in self.streaks.items():
            self._burst_found(key, tracker.close())
        for cmd in self.commands.values():
            self._command_done(cmd)
        self.commands.clear()
        self.folding.clear()

    def _burst_found(self, key: tuple[str, str, str], bursts: list[tuple[_Point, _Point, int]]) -> None:
        for start, end, count in bursts:
            seconds = _seconds(start.wall, end.wall)
            if count >= self.min_docs and count / max(seconds, 1e-3) >= self.min_rate:
                self.found.append(
                    Incident(start.ts, start.wall, key[0], _BULK[key[1]], count, key[2], end.ts)
                )

    def _command_done(self, cmd: _Command) -> None:
        for (ns, op_kind), n in cmd.counts.items():
            if n >= self.min_docs:
                self.found.append(
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

    def _selected(self, op: Op) -> bool:
        if self.ns_filter is None:
            return True
        target = f"{op.db}.{op.o.get(op.command, '')}" if op.op == "c" else op.ns
        return bool(self.ns_filter(target) or self.ns_filter(op.ns))

    def _ddl_found(self, incident: Incident) -> None:
        """A dropDatabase (a rename over a collection) is logged by some servers after a drop of
        each collection it takes: those drops are its own; it starts at the first of them."""
        if incident.kind == "drop":
            self.folding.append(incident)
            self.found.append(incident)
            return
        own = [
            d
            for d in self.folding
            if (incident.kind == "dropDatabase" and d.ns.startswith(incident.ns + "."))
            or (incident.kind == "rename-over" and d.ns == incident.ns)
        ]
        for d in own:
            self.found.remove(d)
        self.folding.clear()
        if own:
            incident = Incident(
                own[0].ts, own[0].wall, incident.ns, incident.kind, sum(d.count for d in own), "", incident.ts
            )
        self.found.append(incident)

    def _sweep_commands(self, wall: datetime | None) -> None:
        if wall is not None and (
            self._last_sweep is None or _seconds(self._last_sweep, wall) > SESSION_IDLE_S / 4
        ):
            self._last_sweep = wall
            for session, cmd in list(self.commands.items()):
                if _seconds(cmd.last_wall, wall) > SESSION_IDLE_S:
                    self._command_done(self.commands.pop(session))

    def _interrupt_runs(self, unit: Unit) -> None:
        plain = _plain_run(unit)
        if plain is None:
            return
        if plain[1] != "c" and any(d.ns.split(".", 1)[0] == plain[0].split(".", 1)[0] for d in self.folding):
            self.folding.clear()  # a write in the database between: the drops were drops of their own
        if plain[1] == "c":
            interrupted = list(self.runs.items())  # a command ends every run
            self.runs.clear()
        elif self.runs.get(plain[0]) not in (None, plain[1]):
            interrupted = [(plain[0], self.runs[plain[0]])]
            self.runs[plain[0]] = plain[1]
        else:
            interrupted = []
            self.runs[plain[0]] = plain[1]
        for ns_kind in interrupted:
            if (ended := self.streaks.get((*ns_kind, "burst"))) is not None:
                self._burst_found((*ns_kind, "burst"), ended.interrupt())

    def feed(self, unit: Unit) -> None:
        wall = unit.wall
        point = _Point(unit.ts, wall)
        self._sweep_commands(wall)
        if unit.transaction:  # a transaction big enough is an incident on its own
            counts = Counter((op.ns, op.op) for op in unit.ops if op.op in _BULK and self._selected(op))
            for (ns, op_kind), n in counts.items():
                if n >= self.min_docs:
                    self.found.append(Incident(unit.ts, wall, ns, _BULK[op_kind], n, "transaction", unit.ts))
            return
        self._interrupt_runs(unit)
        weights: Counter[tuple[str, str, str]] = Counter()
        for op in unit.ops:
            if not self._selected(op):
                continue
            if op.op == "c":
                incident = _ddl_incident(unit, op, wall)
                if incident:
                    self._ddl_found(incident)
                elif op.command not in ("drop", "dropDatabase"):
                    self.folding.clear()
                continue
            if op.op not in _BULK:
                continue
            if op.session is not None:
                cmd = self.commands.setdefault(op.session, _Command(point, wall, op.session))
                cmd.counts[(op.ns, op.op)] += 1
                cmd.last_wall, cmd.last_ts = wall, unit.ts
                continue
            weights[(op.ns, op.op, "batched" if unit.batched else "burst")] += 1
        for key, weight in weights.items():
            tracker = self.streaks.setdefault(key, _Streaks(self.tight, self.window_s))
            self._burst_found(key, tracker.add(point, weight))


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
