"""Oplog positions: the three ways Lifeboat writes a ``bson.Timestamp``.

- ``hex16``: 16 lowercase hex digits ``%08x%08x`` for object names (name order == time order);
- ``"seconds:increment"``: the human and JSON form;
- ISO-8601 UTC wall time, for people (resolved to a position elsewhere, through ``wall``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bson import Timestamp

from .errors import UsageError

ZERO = Timestamp(0, 0)
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_SI = re.compile(r"^(\d{1,10}):(\d{1,10})$")


def to_hex16(ts: Timestamp) -> str:
    return f"{ts.time:08x}{ts.inc:08x}"


def from_hex16(text: str) -> Timestamp:
    if not _HEX16.match(text):
        raise ValueError(f"not a 16-digit hex oplog position: {text!r}")
    return Timestamp(int(text[:8], 16), int(text[8:], 16))


def to_str(ts: Timestamp) -> str:
    return f"{ts.time}:{ts.inc}"


def parse_position(text: str) -> Timestamp:
    """Parse ``seconds:increment`` (the form Lifeboat prints)."""
    m = _SI.match(text.strip())
    if not m or int(m[1]) >= 2**32 or int(m[2]) >= 2**32:
        raise UsageError(
            f"not an oplog position: {text!r}", "write it as seconds:increment, e.g. 1795504330:7"
        )
    return Timestamp(int(m[1]), int(m[2]))


def just_after(ts: Timestamp) -> Timestamp:
    """The position immediately after ``ts`` (so that ``< just_after(ts)`` includes ts)."""
    return Timestamp(ts.time, ts.inc + 1) if ts.inc < 0xFFFFFFFF else Timestamp(ts.time + 1, 0)


def just_before(ts: Timestamp) -> Timestamp:
    """The position immediately before ``ts`` (so that ``> just_before(ts)`` includes ts)."""
    if ts.inc > 0:
        return Timestamp(ts.time, ts.inc - 1)
    return Timestamp(ts.time - 1, 0xFFFFFFFF) if ts.time > 0 else ZERO


def wall_of(ts: Timestamp) -> str:
    """ISO-8601 UTC wall time of a position's seconds part."""
    return datetime.fromtimestamp(ts.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time as an aware datetime: ``Z`` or an offset; none means UTC. ValueError
    when it is not one."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
