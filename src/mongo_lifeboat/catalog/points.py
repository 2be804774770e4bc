"""A moment to restore to: what the operator wrote (``--to``), read once at the boundary into a
:class:`Point`, and resolved against the repository's history into the exclusive oplog
position a restore stops before. Every command that takes a moment (restore, drill, export,
a snapshot roll-forward) goes through here, so ``latest``, an incident id, a position and a
time mean the same everywhere."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bson import Timestamp

from ..errors import NotRestorable, UsageError
from ..oplog.incidents import INCIDENT_PREFIX
from ..oplog.segments import iter_entries
from ..remedies import Remedy
from ..repo.storage import Storage
from ..timestamps import just_after, parse_iso, parse_position
from .history import History, incident_by_id

PointKind = Literal["latest", "incident", "position", "time"]


@dataclass(frozen=True)
class Point:
    text: str  # as written, for messages
    kind: PointKind
    position: Timestamp | None = None  # kind "position"
    when: datetime | None = None  # kind "time" (UTC)

    @classmethod
    def parse(cls, text: str) -> Point:
        """``latest``, an incident id, ``seconds:increment``, or an ISO-8601 UTC time; a usage
        error naming the accepted forms for anything else (nothing is read to decide)."""
        spec = text.strip()
        if spec == "latest":
            return cls(spec, "latest")
        if spec.startswith(INCIDENT_PREFIX):
            return cls(spec, "incident")
        if re.fullmatch(r"\d{9,}:\d+", spec):  # seconds since 1970 have 10 digits since 2001
            return cls(spec, "position", position=parse_position(spec))
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", spec):
            raise UsageError(
                f"the point in time {spec} is ambiguous: a time of day needs its date",
                "write 2026-11-24T12:34:00Z (UTC), or an oplog position seconds:increment such as 1795504330:7",
            )
        when = parse_utc(spec)
        if when is None:
            raise UsageError(
                f"cannot read the point in time {spec!r}",
                "use an ISO-8601 UTC time (2026-11-24T02:13:00Z), seconds:increment, an incident id, or latest",
            )
        return cls(spec, "time", when=when)


LATEST = Point("latest", "latest")


def parse_utc(text: str) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; none means UTC), or None."""
    try:
        return parse_iso(text)
    except ValueError:
        return None


def resolve(point: Point, history: History, storage: Storage, *, within_archive: bool = False) -> Timestamp:
    """The exclusive position a restore to ``point`` stops before.

    ``latest``: the end of the newest restorable window, or, ``within_archive`` (a volume
    snapshot rolls forward with the archived oplog only), the end of the archive."""
    if point.kind == "latest":
        timeline = history.timeline
        if within_archive:
            if timeline.archived_to is None:
                raise NotRestorable(
                    "nothing is archived: a snapshot rolls forward only with the archived oplog",
                    remedy=Remedy("stream"),
                )
            return just_after(timeline.archived_to)
        if not timeline.windows:
            raise NotRestorable("nothing is restorable yet", remedy=Remedy("backup"))
        return timeline.windows[-1].end
    if point.kind == "incident":
        return incident_by_id(storage, history.segments, point.text).ts
    if point.kind == "position":
        assert point.position is not None
        return point.position
    assert point.when is not None
    return _at_time(point.when, history, storage)


def _at_time(when: datetime, history: History, storage: Storage) -> Timestamp:
    # Through ``wall``: replay stops at the first archived entry at or after that time, and
    # never later than the time itself (so a time before every window stays before it).
    at_time = Timestamp(math.ceil(when.timestamp()), 0)
    for seg in history.segments:
        last = parse_utc(seg.last_wall) if seg.last_wall else None
        if last is not None and last < when:
            continue
        for entry in iter_entries(storage, [seg]):
            wall = entry.get("wall")
            if isinstance(wall, datetime) and wall.replace(tzinfo=UTC) >= when:
                return min(entry["ts"], at_time)
    return at_time
