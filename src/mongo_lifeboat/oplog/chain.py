"""Whether a base backup, an archive and a source are of one history.

A replica set's name proves nothing (``rs0`` is everywhere). The chain does: the oplog
entry at a base backup's consistent point is, byte for byte, in the archive of the same
history and nowhere else. A base backup records that entry's digest; the archive and the
source are asked for theirs at the same position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ..errors import DeploymentMismatch, IntegrityError
from ..remedies import Remedy
from ..repo.manifest import Manifest, SourceIdentity
from ..repo.objects import read_documents
from ..repo.storage import Storage
from ..timestamps import to_str, wall_of
from .reader import UNAUTHORIZED, newest_ts, oldest_ts, oplog
from .segments import Segment, entry_ts, iter_raw_entries

# Segments are immutable, so what one holds at a position is a fact worth keeping for the
# life of the process (the agent's check cycles ask the same questions again).
_DIGESTS: dict[tuple[str, str], str | None] = {}
_DIGESTS_MAX = 4096


CAPTURED_FROM_A_STREAM = "change-stream"  # a segment's ``capture`` metadata
_CAPTURED: dict[str, bool] = {}  # segment key -> captured from a change stream


def entry_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def last_digest_at(raws: Iterable[bytes], ts: Timestamp) -> str | None:
    """The digest of the last entry at ``ts`` in ``raws`` (entries can share a ts)."""
    found = None
    for raw in raws:
        at = entry_ts(raw)
        if at == ts:
            found = entry_digest(raw)
        elif at > ts:
            break
    return found


def archived_digest(storage: Storage, segments: Sequence[Segment], ts: Timestamp) -> str | None:
    """The archive's digest of the entry at ``ts``; None where no segment holds one."""
    seg = next((s for s in segments if s.start < ts <= s.end), None)
    if seg is None:
        return None
    cache_key = (seg.key, to_str(ts))
    if cache_key not in _DIGESTS:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        _DIGESTS[cache_key] = last_digest_at(iter_raw_entries(storage, [seg]), ts)
    return _DIGESTS[cache_key]


def source_digest(client: MongoClient[Any], ts: Timestamp) -> str | None:
    """The source's digest of its oplog entry at ``ts``; None where it holds none."""
    return last_digest_at((e.raw for e in oplog(client).find({"ts": ts}).sort("$natural", 1)), ts)


def _covering(base: Manifest, segments: Sequence[Segment]) -> Segment | None:
    return next((s for s in segments if s.start < base.end <= s.end), None)


def captured_from_a_stream(storage: Storage, segment: Segment | None) -> bool:
    """Whether a segment's entries are in the change stream's form (no oplog entry has their
    bytes, so no digest can prove what they follow on from)."""
    if segment is None:
        return False
    if segment.key not in _CAPTURED:  # a segment never changes: asked once per process
        if len(_CAPTURED) >= _DIGESTS_MAX:
            _CAPTURED.clear()
        _CAPTURED[segment.key] = storage.stat(segment.key).meta.get("capture") == CAPTURED_FROM_A_STREAM
    return _CAPTURED[segment.key]


def _judged_by_the_set(storage: Storage, base: Manifest, covering: Segment | None) -> bool:
    """Whether no entry's bytes can place ``base`` in the chain: its bracket or the segment
    covering its consistent point was read from a change stream."""
    return base.oplog.capture == CAPTURED_FROM_A_STREAM or captured_from_a_stream(storage, covering)


def disproof(storage: Storage, base: Manifest, segments: Sequence[Segment]) -> str | None:
    """Why ``base`` cannot be combined with the archive ``segments``; None when the chain
    proves they are one history (or the base lies outside every chain, so nothing is combined,
    or in a stretch captured from a change stream, where the replica set decides)."""
    covering = _covering(base, segments)
    if covering is None or _judged_by_the_set(storage, base, covering):
        # Outside every chain, or the archiver chained its first segment to this very base
        # (older archivers started there): nothing the archive holds contradicts it.
        return None
    try:
        archived = archived_digest(storage, segments, base.end)
    except IntegrityError as e:
        return f"the segment that would prove it is damaged ({e.message})"
    if archived is None:
        return f"the archive holds no entry at its consistent point {base.end_ts}"
    expected = base.end_entry_sha256 or _bracket_digest(storage, base)
    if expected is None:
        return None  # an old base with an empty bracket: no digest to compare (as before)
    if expected != archived:
        return f"the archive's entry at its consistent point {base.end_ts} is not the one it was taken at"
    return None


def foreign_bases(
    storage: Storage, manifests: Sequence[Manifest], segments: Sequence[Segment]
) -> dict[str, str]:
    """The point-in-time bases under this name that are not of the archive's history, with why.

    Inside a chain the entry at the base's consistent point decides. Outside every chain
    (a base restorable only to its own point) there is nothing to compare byte for byte, so
    the replica set it was taken from decides, against the set the chain's own bases came from.
    """
    bases = [m for m in manifests if m.point_in_time_base]
    out = {m.backup_id: why for m in bases if (why := disproof(storage, m, segments)) is not None}
    chained = [
        m
        for m in bases
        if m.backup_id not in out
        and m.identity is not None
        and any(s.start <= m.end <= s.end for s in segments)
    ]
    if not chained:
        return out
    reference = max(chained, key=lambda m: m.end).identity
    assert reference is not None
    # Decided by the replica set: bases outside every chain, and bases inside a stretch
    # captured from a change stream (no bytes to compare there either).
    streamed = {m.backup_id for m in chained if _judged_by_the_set(storage, m, _covering(m, segments))}
    for m in bases:
        inside = any(s.start <= m.end <= s.end for s in segments)
        if m.backup_id in out or m.identity is None or (inside and m.backup_id not in streamed):
            continue
        if _different_sets(m.identity, reference):
            out[m.backup_id] = (
                f"it was taken from another replica set ({_show(m.identity)}) than the archive's ({_show(reference)})"
            )
    return out


def _different_sets(a: SourceIdentity, b: SourceIdentity) -> bool:
    if a.replica_set_id and b.replica_set_id:
        return a.replica_set_id != b.replica_set_id
    return bool(a.hosts and b.hosts and not set(a.hosts) & set(b.hosts))


def _show(i: SourceIdentity | None) -> str:
    if i is None:
        return "(recorded before identities were)"
    rid = f"replicaSetId {i.replica_set_id}, " if i.replica_set_id else ""
    return f"{rid}members {', '.join(i.hosts) or '?'}"


def _bracket_digest(storage: Storage, base: Manifest) -> str | None:
    """Bases taken before the digest was recorded: their bracket ends with that entry."""
    if base.oplog.entries == 0:
        return None
    raws = (raw for batch in read_documents(storage, base.oplog.file) for raw in batch)
    try:
        return last_digest_at(raws, base.end)
    except IntegrityError:
        return None


def check_source(
    client: MongoClient[Any],
    identity: SourceIdentity,
    deployment: str,
    storage: Storage,
    manifests: Sequence[Manifest],
    segments: Sequence[Segment],
) -> None:
    """Refuse a source that is not the deployment the repository already holds under this
    name. Raises :class:`DeploymentMismatch` naming both."""
    known = [m for m in manifests if m.identity is not None]
    recorded = known[-1].identity if known else None
    if recorded and recorded.replica_set_id and identity.replica_set_id:
        if recorded.replica_set_id == identity.replica_set_id:
            return
        _refuse(deployment, identity, recorded, f"its replicaSetId is {identity.replica_set_id}")
    point, expected = _newest_known_entry(storage, manifests, segments)
    if point is None or expected is None:
        return  # nothing recorded yet: this source starts the history
    if expected != CAPTURED_FROM_A_STREAM:  # (no oplog entry has a stream-captured entry's bytes)
        try:
            if _same_entry(client, deployment, identity, recorded, point, expected):
                return
        except OperationFailure as e:
            if e.code not in UNAUTHORIZED:
                raise  # (a change-stream capture's user may not read the oplog: the members decide)
    # The oplog rolled past the repository's newest entry (or this member has not replicated
    # it yet, or may not be read, or the entry was captured from a change stream): the chain
    # cannot tell. Members in common say it is the same set (the archiver then records any
    # gap); none is a refusal.
    if recorded is None or set(recorded.hosts) & set(identity.hosts):
        return
    _refuse(
        deployment,
        identity,
        recorded,
        f"no member in common and its oplog no longer reaches {to_str(point)} ({wall_of(point)}) to prove it",
    )


def _same_entry(
    client: MongoClient[Any],
    deployment: str,
    identity: SourceIdentity,
    recorded: SourceIdentity | None,
    point: Timestamp,
    expected: str,
) -> bool:
    """True when the source's entry at ``point`` is the repository's; refuses when it holds
    another; False when it cannot tell (its oplog no longer reaches ``point``)."""
    found = source_digest(client, point)
    if found == expected:
        return True
    if found is not None:
        _refuse(deployment, identity, recorded, f"its oplog holds a different entry at {to_str(point)}")
    if oldest_ts(client) <= point and newest_ts(client) >= point:
        _refuse(deployment, identity, recorded, f"its oplog covers {to_str(point)} but holds no entry there")
    return False


def _newest_known_entry(
    storage: Storage, manifests: Sequence[Manifest], segments: Sequence[Segment]
) -> tuple[Timestamp | None, str | None]:
    """The newest position whose entry's digest the repository knows."""
    base = max((m for m in manifests if m.end_entry_sha256), key=lambda m: m.end, default=None)
    last = max(segments, key=lambda s: s.end, default=None)
    if last is not None and (base is None or last.end > base.end):
        if storage.stat(last.key).meta.get("capture") == "change-stream":
            return last.end, CAPTURED_FROM_A_STREAM
        try:
            return last.end, archived_digest(storage, segments, last.end)
        except IntegrityError:
            pass  # a damaged last segment proves nothing: fall back to the newest base
    if base is not None:
        return base.end, base.end_entry_sha256
    return None, None


def _refuse(deployment: str, identity: SourceIdentity, recorded: SourceIdentity | None, why: str) -> None:
    raise DeploymentMismatch(
        f"this source is not the deployment {deployment!r} this repository holds: {why}. "
        f"Source: {_show(identity)}; repository: {_show(recorded)}",
        "two replica sets share the name; keep them apart: {do}",
        Remedy("own-name"),
    )
