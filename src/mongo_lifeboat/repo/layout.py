"""Object names. The ONLY module that formats or parses repository keys.

Names are derived from namespace names with every character that is unsafe in a
path escaped (``%XX``), so ``/``, ``\\``, NUL, non-printables and a leading ``.``
can never produce a traversal or hidden file. Over-long names are cut and made
unique with a hash (the manifest, not the key, holds the real name).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import Timestamp

from ..timestamps import from_hex16, to_hex16

REPO_MARKER = "lifeboat.json"
MANIFEST = "manifest.json"
_MAX_NAME_BYTES = 180  # leaves room for ".<n>.bson.zst" and temp-file prefixes under 255
_BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z$")


def escape_name(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        code = ord(ch)
        unsafe = ch in "%/\\" or code < 0x20 or code == 0x7F or (i == 0 and ch == ".")
        out.append("".join(f"%{b:02X}" for b in ch.encode()) if unsafe else ch)
    escaped = "".join(out) or "%00"
    raw = escaped.encode()
    if len(raw) > _MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        cut = raw[: _MAX_NAME_BYTES - 20].decode("utf-8", errors="ignore")
        escaped = f"{cut.rstrip('%0123456789ABCDEF') or cut}%24{digest}"
    return escaped


def new_backup_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def is_backup_id(text: str) -> bool:
    return bool(_BACKUP_ID.match(text))


def deployment_prefix(deployment: str) -> str:
    return escape_name(deployment) + "/"


def backup_prefix(deployment: str, backup_id: str) -> str:
    if not is_backup_id(backup_id):
        raise ValueError(f"not a backup id: {backup_id!r}")
    return f"{deployment_prefix(deployment)}backups/{backup_id}/"


def manifest_key(deployment: str, backup_id: str) -> str:
    return backup_prefix(deployment, backup_id) + MANIFEST


def data_key(deployment: str, backup_id: str, db: str, coll: str, chunk: int) -> str:
    return (
        f"{backup_prefix(deployment, backup_id)}data/{escape_name(db)}/{escape_name(coll)}.{chunk}.bson.zst"
    )


def meta_key(deployment: str, backup_id: str, db: str, coll: str) -> str:
    return f"{backup_prefix(deployment, backup_id)}meta/{escape_name(db)}/{escape_name(coll)}.json"


def bracket_key(deployment: str, backup_id: str, start: Timestamp, end: Timestamp) -> str:
    return f"{backup_prefix(deployment, backup_id)}oplog/{to_hex16(start)}-{to_hex16(end)}.bson.zst"


def parse_backup_key(key: str) -> tuple[str, str, str] | None:
    """``<dep>/backups/<id>/<rest>`` -> (escaped deployment, backup id, rest), else None."""
    parts = key.split("/", 3)
    if len(parts) == 4 and parts[1] == "backups" and is_backup_id(parts[2]):
        return parts[0], parts[2], parts[3]
    return None


def parse_span(name: str) -> tuple[Timestamp, Timestamp]:
    """``<start>-<end>.bson.zst`` -> (start, end)."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    start, _, end = stem.partition("-")
    return from_hex16(start), from_hex16(end)


# -- continuous oplog --------------------------------------------------------------


def oplog_prefix(deployment: str) -> str:
    return f"{deployment_prefix(deployment)}oplog/"


@dataclass(frozen=True)
class SegmentFacts:
    """What a segment's name carries, so that one listing (no request per object) tells them."""

    entries: int
    size: int
    sha256: str
    first_wall_ms: int | None
    last_wall_ms: int | None


def segment_key(deployment: str, start: Timestamp, end: Timestamp, facts: SegmentFacts | None = None) -> str:
    """``<start>-<end>.<entries>.<size>.<first wall ms>.<last wall ms>.<sha256>.bson.zst``
    (segments written before names carried facts: ``<start>-<end>.bson.zst``, facts in metadata)."""
    day = datetime.fromtimestamp(end.time, UTC).strftime("%Y%m%d")
    name = f"{to_hex16(start)}-{to_hex16(end)}"
    if facts is not None:
        walls = [str(w) if w is not None else "-" for w in (facts.first_wall_ms, facts.last_wall_ms)]
        name += f".{facts.entries}.{facts.size}.{walls[0]}.{walls[1]}.{facts.sha256}"
    return f"{oplog_prefix(deployment)}{day}/{name}.bson.zst"


def segment_facts(key: str) -> SegmentFacts | None:
    """The facts in a segment's name; None for a name without them (or one not understood)."""
    parts = key.rsplit("/", 1)[-1].removesuffix(".bson.zst").split(".")
    if len(parts) != 6:
        return None
    _, entries, size, first, last, sha = parts
    try:
        return SegmentFacts(
            int(entries),
            int(size),
            sha,
            None if first == "-" else int(first),
            None if last == "-" else int(last),
        )
    except ValueError:
        return None


def is_immutable(key: str) -> bool:
    """Objects written once and never changed (what Object Lock protects): everything of a
    backup, archived segments and gap records. Leases, state and reports change; they are not."""
    parts = key.split("/")
    return len(parts) > 2 and (
        parts[1] == "backups"
        or is_segment_key(key)
        or (parts[1:3] in (["oplog", "gaps"], ["oplog", "merges"]))
    )


_SEGMENT_NAME = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}\.(?:.+\.)?bson\.zst$")


def is_oplog_object(key: str) -> bool:
    """Whether ``key`` holds oplog entries (a backup's bracket or an archived segment), not
    documents."""
    parsed = parse_backup_key(key)
    return is_segment_key(key) or (parsed is not None and parsed[2].startswith("oplog/"))


def is_segment_key(key: str) -> bool:
    """A segment's key: ``<deployment>/oplog/<yyyymmdd>/<start>-<end>[.<facts>].bson.zst``.
    Anything else in the archive's folders (a stray or damaged name) is not taken for one."""
    parts = key.split("/")
    return (
        len(parts) == 4
        and parts[1] == "oplog"
        and len(parts[2]) == 8
        and _SEGMENT_NAME.match(parts[3]) is not None
    )


def gap_key(deployment: str, start: Timestamp, end: Timestamp) -> str:
    return f"{oplog_prefix(deployment)}gaps/{to_hex16(start)}-{to_hex16(end)}.json"


def merge_proof_prefix(deployment: str) -> str:
    return f"{oplog_prefix(deployment)}merges/"


def merge_proof_key(deployment: str, start: Timestamp, end: Timestamp) -> str:
    """What a merged segment replaced (``oplog.compaction``): each source's span, entry count
    and sha256, written before the merged segment itself."""
    return f"{merge_proof_prefix(deployment)}{to_hex16(start)}-{to_hex16(end)}.json"


DAMAGE_DIR = "damage"


def damage_prefix(deployment: str) -> str:
    """Records of objects found damaged (``repo.damage``): one per object."""
    return f"{deployment_prefix(deployment)}{DAMAGE_DIR}/"


def snapshot_prefix(deployment: str) -> str:
    return f"{deployment_prefix(deployment)}snapshots/"


def snapshot_key(deployment: str, snapshot_id: str) -> str:
    """A filesystem snapshot's record (``snapshot.manifest``): the commit point of a snapshot."""
    return f"{snapshot_prefix(deployment)}{escape_name(snapshot_id)}.json"


def archiver_state_key(deployment: str) -> str:
    return f"{oplog_prefix(deployment)}state.json"


def lock_key(deployment: str, name: str) -> str:
    return lock_key_in(deployment_prefix(deployment), name)


def lock_key_in(deployment_key: str, name: str) -> str:
    """A lease under an already escaped deployment prefix (as listings return it)."""
    return f"{deployment_key.rstrip('/')}/locks/{escape_name(name)}.json"


def backup_lease_name(backup_id: str) -> str:
    return f"backup-{backup_id}"


def undo_journal_key(deployment: str, incident_id: str) -> str:
    """Where ``lifeboat undo`` of a dropped collection records where it restores it, so that
    a rerun after a crash writes to the same place."""
    return f"{deployment_prefix(deployment)}undo/{escape_name(incident_id)}.json"


def drill_prefix(deployment: str) -> str:
    return f"{deployment_prefix(deployment)}drills/"


def drill_key(deployment: str, drill_id: str) -> str:
    """A drill's report; ids sort by time (they are the drill's start, like backup ids)."""
    return f"{drill_prefix(deployment)}{escape_name(drill_id)}.json"


def detection_prefix(deployment: str) -> str:
    """What the archiver's live detection saw (``oplog.detect``): one record per detection,
    named by its kind (counted from a listing, for the metrics) and its id."""
    return f"{deployment_prefix(deployment)}detections/"


def detection_key(deployment: str, kind: str, ident: str) -> str:
    return f"{detection_prefix(deployment)}{escape_name(kind)}/{escape_name(ident)}.json"


def detection_kind(key: str) -> str:
    return key.rsplit("/", 2)[-2]


def alert_delivery_key(deployment: str) -> str:
    """The outcome of the last attempt to deliver a notification (the ``alerts`` check)."""
    return f"{deployment_prefix(deployment)}alerts/last-delivery.json"


def check_result_key(deployment: str) -> str:
    """The last ``lifeboat check`` (its statuses are exported as metrics)."""
    return f"{deployment_prefix(deployment)}checks/last.json"
