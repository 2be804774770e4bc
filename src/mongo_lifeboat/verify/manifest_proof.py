"""Whether a manifest from another repository may replace this repository's damaged one.

A manifest is the commit point of a backup: it says which collections the backup holds and
at which oplog position it is consistent. A copy that merely parses and names the right
backup id could still leave a collection out or move the consistent point (a hostile or
mistaken repository), and the backup would then restore without that collection, silently.
So a replacement is accepted only where everything this repository still holds of the
backup agrees with it:

- the files match both ways: every object stored under the backup is one the copy lists, and
  every file the copy lists is stored here;
- each stored object passes the copy's size and sha256 (an object already recorded as
  damaged here cannot testify, and is left to be repaired from the copy afterwards);
- the oplog bracket held here is the one the copy's ``start_ts`` and ``end_ts`` name (its key
  is its span), holds the copy's entry count and nothing after ``end_ts``, and its entry at
  ``end_ts`` is the copy's ``end_entry_sha256`` where it records one;
- the copy is of this deployment and of the replica set this repository's other backups of
  that deployment were taken from.
"""

from __future__ import annotations

from ..errors import IntegrityError
from ..oplog.chain import last_digest_at
from ..oplog.segments import entry_ts
from ..repo import layout
from ..repo.damage import damaged_objects
from ..repo.manifest import Manifest
from ..repo.objects import fetch_verified, read_documents
from ..repo.repository import Repository


def _refused(key: str, why: str) -> IntegrityError:
    return IntegrityError(f"the copy of {key} is not this backup's manifest: {why}")


def prove_replacement(repo: Repository, key: str, copy: Manifest) -> None:
    """Raise ``IntegrityError`` naming why ``copy`` cannot stand for the manifest at ``key``."""
    parsed = layout.parse_backup_key(key)
    if parsed is None:
        raise _refused(key, "it is not at a backup's manifest key")
    deployment_key, backup_id = parsed[0], parsed[1]
    if copy.backup_id != backup_id or not key.startswith(
        layout.backup_prefix(copy.deployment, copy.backup_id)
    ):
        raise _refused(key, f"it is backup {copy.backup_id} of {copy.deployment}")
    _same_replica_set(repo, deployment_key, backup_id, copy, key)
    prefix = key[: -len(layout.MANIFEST)]
    held = {o.key for o in repo.storage.list(prefix) if o.key != key}
    listed = {f.key: f for f in copy.all_files()}
    unlisted = sorted(held - listed.keys())
    if unlisted:
        raise _refused(key, f"this repository holds {len(unlisted)} file(s) it does not list ({unlisted[0]})")
    absent = sorted(listed.keys() - held)
    if absent:
        raise _refused(key, f"it lists {len(absent)} file(s) this repository does not hold ({absent[0]})")
    damaged = damaged_objects(repo.storage, deployment_key)
    for file_key, entry in listed.items():
        if file_key in damaged:
            continue
        try:
            fetch_verified(repo.storage, entry).close()
        except IntegrityError as e:
            raise _refused(key, f"{file_key} here does not match its record there ({e.message})") from e
    if copy.oplog.file.key not in damaged:
        _bracket_ends_at(repo, copy, key)


def _bracket_ends_at(repo: Repository, copy: Manifest, key: str) -> None:
    """The bracket's object is named by its span, so the copy's bracket key must be the one
    its own ``start_ts`` and ``end_ts`` name (and it is held here: checked above)."""
    try:
        span = layout.parse_span(copy.oplog.file.key)
    except ValueError:
        span = None
    if span != (copy.start, copy.end):
        raise _refused(
            key, f"its oplog bracket {copy.oplog.file.key} does not end at its end_ts {copy.end_ts}"
        )
    raws = [raw for batch in read_documents(repo.storage, copy.oplog.file) for raw in batch]
    if len(raws) != copy.oplog.entries:
        raise _refused(key, f"its bracket holds {len(raws)} entries here; the copy says {copy.oplog.entries}")
    if raws and entry_ts(raws[-1]) > copy.end:
        raise _refused(key, f"its bracket holds entries after the copy's end_ts {copy.end_ts}")
    digest = last_digest_at(iter(raws), copy.end)
    if copy.end_entry_sha256 and digest is not None and digest != copy.end_entry_sha256:
        raise _refused(key, "the bracket's entry at end_ts is not the one the copy names")


def _same_replica_set(
    repo: Repository, deployment_key: str, backup_id: str, copy: Manifest, key: str
) -> None:
    others = [
        b.manifest
        for b in repo.list_backups()
        if b.manifest is not None and b.deployment_key == deployment_key and b.backup_id != backup_id
    ]
    if any(m.deployment != copy.deployment for m in others):
        raise _refused(key, f"it is of deployment {copy.deployment}, not of this one")
    ours = {m.identity.replica_set_id for m in others if m.identity and m.identity.replica_set_id}
    theirs = copy.identity.replica_set_id if copy.identity else None
    if ours and theirs not in ours:
        raise _refused(key, f"it was taken from replica set id {theirs}, not {', '.join(sorted(ours))}")
