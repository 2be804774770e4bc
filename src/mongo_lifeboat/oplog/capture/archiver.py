"""`lifeboat stream`: continuous oplog archiving into immutable, chained segments.

Resume is from the end of the last committed segment (or, the first time, the latest
base backup's end_ts), so a crash anywhere loses nothing committed and repeats nothing:
a segment is one atomic object covering ``start < ts <= end``. Before a segment is
committed, the oldest entry still in the oplog must be at or before the segment's
start (trimming removes oldest first): that proves every entry in it was read. When
the resume point has left the oplog, a gap is recorded and archiving goes on from the
oldest entry available.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure

from ...errors import HistoryLost, LifeboatError, SourceUnreachable
from ...events import Reporter, Update, UpdateKind, silent
from ...faults import crash_point
from ...mongo import members
from ...mongo.client import connect
from ...mongo.identity import read_identity
from ...mongo.topology import replica_set_name
from ...repo import layout
from ...repo.lease import Lease
from ...repo.records import put_record
from ...repo.repository import Repository
from ...timestamps import iso, just_before, to_str
from .. import chain
from ..detect import Detection, DetectSettings, LiveDetector
from ..reader import pause_for
from ..segments import GapRecord, list_segments, record_gap
from .catchup import catch_up_members
from .open_segment import OpenSegment as _OpenSegment
from .sources import Capture, OplogSource, Reader, Source, resolve
from .tail import SETTLE_S

log = logging.getLogger(__name__)

QUERY_SHARE = 0.2  # of the archiver's time, at most, spent in oplog queries


@dataclass(frozen=True)
class ArchiverOptions:
    source_uri: str
    member: str = "auto"
    # Under load a segment is committed at least this often: the most a lost source costs.
    segment_seconds: float = 1.0
    segment_bytes: int = 16 << 20
    timeout_ms: int = 10_000
    poll_s: float = 0.25
    lease_ttl_s: float = 60.0
    catch_up_s: float = 30.0  # how often a repository that is down is tried again
    deployment: str | None = None  # the name in the repository; default: the replica set name
    state_s: float = 2.0  # how often the position and the lag are recorded while running
    drain_timeout_s: float = 30.0  # on SIGTERM, catch up for at most this long, then stop
    settle_s: float = SETTLE_S  # how long what an open read waits to be read again (oplog holes)
    capture: Capture = "oplog"  # or "change-stream", or "auto" (the oplog where it may be read)
    detect: DetectSettings | None = None  # score what is archived, live (``oplog.detect``)


@dataclass
class ArchiverStats:
    segments: int = 0
    entries: int = 0
    gaps: list[dict[str, str]] = field(default_factory=list)
    position: str = ""


class Archiver:
    def __init__(self, repo: Repository, opts: ArchiverOptions, report: Reporter = silent) -> None:
        self.repo = repo
        self.opts = opts
        self.report = report
        self.stats = ArchiverStats()
        self.deployment = ""
        self._last_catch_up = time.monotonic()
        self._committed_wall: datetime | None = None  # of the newest entry in a committed segment
        self._caught_up = False  # the last read found nothing more
        self._clock_offset = timedelta(0)  # the source's clock minus ours (its walls are its own)
        self.stopped_behind_s = 0.0  # the drain timed out this far behind
        self.source: Source = OplogSource(opts.settle_s)
        self.detector = LiveDetector(opts.detect) if opts.detect is not None else None

    # -- setup ----------------------------------------------------------------------

    def _connect(self) -> MongoClient[Any]:
        cluster = connect(self.opts.source_uri, role="source", timeout_ms=self.opts.timeout_ms)
        try:
            hello = cluster.admin.command("hello")
            name = replica_set_name(hello, "it has no oplog to archive")
            self.deployment = self.opts.deployment or name
            if isinstance(hello.get("localTime"), datetime):
                self._clock_offset = _aware(hello["localTime"]) - datetime.now(UTC)
            chosen = members.choose(members.discover(cluster), self.opts.member)
        finally:
            cluster.close()
        client: MongoClient[Any] = members.member_client(
            self.opts.source_uri, chosen.host, serverSelectionTimeoutMS=self.opts.timeout_ms
        )
        try:
            # Never continue another replica set's archive because it shares this one's name.
            chain.check_source(
                client,
                read_identity(client),
                self.deployment,
                self.repo.storage,
                [
                    b.manifest
                    for b in self.repo.list_backups()
                    if b.manifest and b.manifest.deployment == self.deployment
                ],
                list_segments(self.repo.storage, self.deployment),
            )
        except BaseException:
            client.close()
            raise
        return client

    def _resume_point(self, client: MongoClient[Any]) -> Timestamp:
        segments = list_segments(self.repo.storage, self.deployment)
        if segments:
            return max(s.end for s in segments)
        backups = [
            b.manifest
            for b in self.repo.list_backups()
            if b.manifest and b.manifest.deployment == self.deployment
        ]
        if backups:
            return backups[-1].end  # chain the first segment to the latest base backup
        return self.source.newest(client)

    def _say(self, kind: UpdateKind, name: str, message: str, **facts: Any) -> None:
        self.report(Update("archiver", kind, name, message, facts=facts))

    def _detect(self, entries: list[Any], now: datetime) -> None:
        """Score what was just committed (``now``: the stream's own clock). Detection never
        stops archiving: a failure in it is logged and detection is off for the rest of the run."""
        if self.detector is None:
            return
        try:
            self._detected(self.detector.feed(entries) + self.detector.idle(now))
        except Exception as e:
            log.warning("live detection failed and is off until the archiver restarts: %s", e, exc_info=True)
            self.detector = None

    def _detected(self, found: list[Detection]) -> None:
        for d in found:
            remedy = {"action": d.remedy.action, "args": d.remedy.args} if d.remedy else None
            ident = d.incident_id or f"{d.kind}-{d.ts.replace(':', '-')}"
            try:  # kept in the repository: counted by the metrics, listed beside the timeline
                record = {
                    **d.facts(),
                    "summary": d.summary,
                    "remedy": remedy,
                    "detected_at": iso(datetime.now(UTC)),
                }
                put_record(self.repo.storage, layout.detection_key(self.deployment, d.kind, ident), record)
            except (LifeboatError, OSError) as e:  # the event still goes out
                log.warning("could not record the detection %s: %s", ident, e)
            facts = {**d.facts(), "remedy": remedy, "deployment": self.deployment}
            self.report(Update("archiver", "notice", "incident", d.summary, facts=facts))

    def _check_gap(self, client: MongoClient[Any], position: Timestamp) -> tuple[Timestamp, Timestamp]:
        """(where to go on from, the guard entry). If ``position`` has left the oplog, the gap
        is recorded and archiving goes on from the oldest entry."""
        oldest = self.source.after_gap(client, position)
        return (position, position) if oldest is None else self._gap(position, oldest)

    def _gap(self, position: Timestamp, oldest: Timestamp) -> tuple[Timestamp, Timestamp]:
        """Record that the history from ``position`` up to ``oldest`` (where archiving goes on)
        is lost."""
        resume = just_before(oldest)
        gap = GapRecord(position, resume, iso(datetime.now(UTC)))
        record_gap(self.repo.storage, self.deployment, gap)
        self.stats.gaps.append({"start": to_str(position), "end": to_str(resume)})
        self._say(
            "notice",
            "gap",
            f"GAP in the archive: the {'oplog rolled over' if self.source.name == 'oplog' else 'change stream history moved on'} "
            f"past the archived position {to_str(position)}; "
            f"entries up to {to_str(resume)} are lost. Archiving resumes from {to_str(oldest)}; "
            "take a new base backup to restore protection",
            start=to_str(position),
            end=to_str(resume),
        )
        return resume, oldest

    def _write_state(self, position: Timestamp, lag_s: float, confirmed: bool) -> None:
        now = iso(datetime.now(UTC))
        state = {"position": to_str(position), "updated_at": now, "lag_s": round(lag_s, 3)}
        if confirmed:
            state["confirmed_at"] = now  # no entry after position existed at this time
        self.repo.storage.put(
            layout.archiver_state_key(self.deployment), io.BytesIO(json.dumps(state).encode())
        )

    def _catch_up(self, everyone: bool) -> None:
        self._last_catch_up = time.monotonic()
        for name, copied in catch_up_members(self.repo.mirror, self.deployment, everyone):
            self._say("notice", "caught-up", f"repository {name}: {copied} segments copied")

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> ArchiverStats:
        client = self._connect()
        self.source = resolve(self.opts.capture, client, self.opts.settle_s)
        lease = Lease(self.repo.storage, self.deployment, "archiver", self.opts.lease_ttl_s)
        lease.acquire()
        try:
            self._catch_up(everyone=True)
            position, guard = self._check_gap(client, self._resume_point(client))
            # Until a segment is committed, what is committed ends at the resume point.
            self._committed_wall = datetime.fromtimestamp(position.time, UTC)
            self._say(
                "phase",
                "archiving",
                f"archiving {self.deployment} from {to_str(position)} (capture: {self.source.name})",
                end=to_str(position),
                capture=self.source.name,
            )
            backoff, gap_end = 0.5, None  # where the last gap left off
            while True:  # _archive returns only once stopped, after draining what is there
                try:
                    position = self._archive(client, position, stop, lease, guard)
                    break
                except _Restart as restart:
                    position, guard = restart.position, restart.guard
                except HistoryLost as lost:
                    if lost.position == gap_end:  # lost again where the last gap left off: a fault
                        raise
                    position, guard = self._gap(lost.position, self.source.resume_after_loss(client))
                    gap_end = position
                except (ConnectionFailure, SourceUnreachable) as e:
                    self._say(
                        "notice",
                        "reconnecting",
                        f"lost the source ({type(e).__name__}); retrying in {backoff:g}s",
                    )
                    if stop.wait(backoff):
                        break
                    backoff = min(backoff * 2, 30.0)
                    client.close()
                    try:
                        client = self._connect()
                        guard = position
                        backoff = 0.5
                    except SourceUnreachable:
                        continue
            self.stats.position = to_str(position)
            self._say("phase", "stopped", f"archived through {to_str(position)}", end=to_str(position))
            return self.stats
        finally:
            lease.release()
            client.close()

    def _lag(self, pending: _OpenSegment | None) -> float:
        """The source's newest write against the newest committed entry: what losing the
        source now would lose. Caught up, the newest write is the newest entry read (exact).
        Behind, what the source holds past what was read is not known without asking it, so
        the lag counts up to now (on the source's clock): an upper bound, never less than the
        truth. Nothing is asked of the server: a server was seen to spend an oplog position
        on every ``hello`` (SecantusDB), and reading its newest entry can cost a scan."""
        committed = self._committed_wall
        if committed is None:
            return 0.0
        if self._caught_up:
            newest = pending.last_wall if pending is not None and pending.entries else None
            return max(0.0, (_aware(newest) - _aware(committed)).total_seconds()) if newest else 0.0
        now = datetime.now(UTC) + self._clock_offset
        return max(0.0, (now - _aware(committed)).total_seconds())

    def _archive(
        self,
        client: MongoClient[Any],
        position: Timestamp,
        stop: threading.Event,
        lease: Lease,
        guard: Timestamp,
    ) -> Timestamp:
        """Archive until stopped; returns the last committed position. Raises on connection loss."""
        reader = self.source.reader(client, position, guard, await_s=min(0.5, max(self.opts.poll_s, 0.05)))
        seg = self._segment(position, guard)
        last_state = last_renew = 0.0
        try:
            while not stop.is_set():
                opens, t_read = reader.opens, time.monotonic()
                entries, caught_up = reader.read()
                self._caught_up = caught_up
                for entry in entries:
                    if self._due(seg) and entry["ts"] != seg.end:  # never split a same-ts group
                        position = self._commit(client, reader, seg)
                        seg = self._segment(position)
                    seg.add(entry)
                if self._due(seg) and caught_up:
                    position = self._commit(client, reader, seg)
                    seg = self._segment(position)
                if time.monotonic() - self._last_catch_up > self.opts.catch_up_s:
                    self._catch_up(everyone=False)
                idle = caught_up and not seg.entries
                if idle and self.detector is not None:  # quiet: what was going on is over
                    self._detect([], datetime.now(UTC) + self._clock_offset)
                # The lag as it is now: every state_s while entries flow, less often when idle
                # (then the record's age, added by every reader, only overstates).
                if time.monotonic() - last_state >= self.opts.state_s * (2.5 if idle else 1.0):
                    if time.monotonic() - last_renew >= self.opts.lease_ttl_s / 6:
                        lease.renew()
                        last_renew = time.monotonic()
                    self._write_state(position, self._lag(seg), confirmed=idle)
                    if idle:
                        self._say(
                            "notice",
                            "idle",
                            f"no new entries; archived through {to_str(position)}",
                            end=to_str(position),
                        )
                    last_state = time.monotonic()
                if caught_up:
                    # Behind, the next read goes at once. Caught up, the server held the read
                    # for await_s; a server that answers at once, or a cursor that had to be
                    # re-opened (a scan, on some servers), is read at a bounded cost.
                    quick = time.monotonic() - t_read < reader.await_s / 2
                    reopened = reader.opens > opens
                    wait = pause_for(reader.last_query_s, QUERY_SHARE, 0.0) if reopened else 0.0
                    stop.wait(max(wait, self.opts.poll_s if quick else 0.0))
            return self._drain(client, reader, seg, position)
        except HistoryLost as lost:
            if seg.entries:  # what was read is whole up to the break: kept
                position = self._commit(client, reader, seg)
                seg.entries = 0
            raise HistoryLost(position, lost.message) from lost
        finally:
            reader.close()
            if seg.entries:
                seg.writer.abandon()

    def _drain(
        self, client: MongoClient[Any], reader: Reader, seg: _OpenSegment, position: Timestamp
    ) -> Timestamp:
        """SIGTERM/SIGINT: archive what is already in the oplog, for at most drain_timeout_s,
        then commit what was read. Whatever is left is archived by the next start, from here."""
        deadline = time.monotonic() + self.opts.drain_timeout_s
        # Caught up means through the oplog's newest entry now, by a plain query: a tailing
        # cursor can find nothing new for a while (a visible point trailing the newest entry).
        there, caught_up = self.source.drain_to(client), False
        while time.monotonic() < deadline:
            entries, quiet = reader.read()
            for entry in entries:
                if self._due(seg) and entry["ts"] != seg.end:
                    position = self._commit(client, reader, seg)
                    seg = self._segment(position)
                seg.add(entry)
            caught_up = self._caught_up = self.source.drained(reader.position, there, quiet)
            if caught_up:
                break
            if quiet:  # short of what is there: read again from a new cursor
                reader.close()
        if seg.entries:
            position = self._commit(client, reader, seg)
            seg.entries = 0
        lag = self._lag(seg)
        self._write_state(position, lag, confirmed=False)
        if not caught_up:
            self.stopped_behind_s = lag
            self._say(
                "notice",
                "drain-timeout",
                f"stopped {lag:.1f}s behind the source after draining for {self.opts.drain_timeout_s:g}s; "
                "the next start archives the rest from here",
                end=to_str(position),
                lag_s=lag,
            )
        return position

    def _segment(self, start: Timestamp, guard: Timestamp | None = None) -> _OpenSegment:
        seg = _OpenSegment(self.repo, self.deployment, start, guard)
        seg.capture = self.source.name
        seg.kept = [] if self.detector is not None else None
        return seg

    def _due(self, seg: _OpenSegment) -> bool:
        return seg.entries > 0 and (
            time.monotonic() - seg.opened >= self.opts.segment_seconds
            or seg.writer.raw_bytes >= self.opts.segment_bytes
        )

    def _commit(self, client: MongoClient[Any], reader: Reader, seg: _OpenSegment) -> Timestamp:
        # Each read proves itself (see OplogReader); the oldest entry is looked at only when
        # one could not, e.g. after a gap, when the start is not itself an entry.
        if self.source.lost(client, reader, seg.guard):
            # Entries after the segment's start may have been trimmed before we read them.
            seg.writer.abandon()
            seg.entries = 0
            raise _Restart(*self._check_gap(client, seg.start))
        reader.proven()
        seg.commit()
        if self.detector is not None and seg.kept is not None:  # (its newest entry is "now" for it)
            self._detect(seg.kept, seg.last_wall or seg.opened_at)
        crash_point("segment-committed")
        self._committed_wall = seg.last_wall or self._committed_wall
        self.stats.segments += 1
        self.stats.entries += seg.entries
        lag = self._lag(None)
        self.report(
            Update(
                "archiver",
                "progress",
                "segment",
                done=seg.entries,
                facts={"start": to_str(seg.start), "end": to_str(seg.end), "lag_s": lag},
            )
        )
        return seg.end


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class _Restart(Exception):
    def __init__(self, position: Timestamp, guard: Timestamp) -> None:
        self.position = position
        self.guard = guard
