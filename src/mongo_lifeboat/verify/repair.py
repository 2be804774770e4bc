"""Repair a repository's damaged objects from a good copy in another repository.

What is damaged is what has been found so (``repo.damage``: by verify, a restore, the
background sampling) plus every backup whose manifest cannot be read. Each object is taken
from the other repository only after it passes there the check it must pass here (size and
sha256 from its manifest or its segment name; a manifest must parse, belong to its own backup
and agree with everything this repository still holds of it: ``manifest_proof``), written over the damaged one through this repository's own storage (so it is
encrypted and bound here, not there), read back and checked again; only then is its damage
record cleared. An object with no good copy stays damaged, and is said so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import interrupts
from ..catalog.history import deployments
from ..errors import IntegrityError, LifeboatError
from ..oplog.segments import list_segments
from ..repo import layout
from ..repo.damage import clear_damage, damaged_objects
from ..repo.manifest import FileEntry
from ..repo.objects import fetch_verified
from ..repo.repository import Repository
from .manifest_proof import prove_replacement


@dataclass
class RepairReport:
    repaired: list[str] = field(default_factory=list)
    # key -> why it could not be repaired (no good copy, a lock, a write that failed)
    failed: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "dry_run": self.dry_run,
            "repaired": self.repaired,
            "failed": [{"object": k, "problem": v} for k, v in self.failed.items()],
        }


@dataclass(frozen=True)
class _Damaged:
    key: str
    entry: FileEntry | None  # None: a manifest (checked by parsing, not by a checksum)


def _damaged(repo: Repository, good: Repository) -> Iterator[_Damaged]:
    """Every damaged object of ``repo``, with the entry that checks a copy of it."""
    for b in repo.list_backups():
        if b.damaged and b.damage_kind is IntegrityError:
            yield _Damaged(f"{b.deployment_key}/backups/{b.backup_id}/{layout.MANIFEST}", None)
    for deployment in deployments(repo):
        recorded = damaged_objects(repo.storage, deployment)
        if not recorded:
            continue
        entries = {s.key: s.file for s in list_segments(repo.storage, deployment)}
        for listing in (*repo.list_backups(), *good.list_backups()):  # a file's entry: from either manifest
            if listing.manifest is not None and listing.manifest.deployment == deployment:
                for f in listing.manifest.all_files():
                    entries.setdefault(f.key, f)
        for key in recorded:
            if key in entries:
                yield _Damaged(key, entries[key])
            else:  # deleted since (pruned): nothing left to repair
                clear_damage(repo.storage, key)


def repair(repo: Repository, good: Repository, dry_run: bool = False) -> RepairReport:
    report = RepairReport(dry_run=dry_run)
    for item in _damaged(repo, good):
        interrupts.check()
        try:
            _repair_one(repo, good, item, dry_run)
            report.repaired.append(item.key)
        except LifeboatError as e:
            report.failed[item.key] = e.message
        except OSError as e:  # a storage that refuses the write (Object Lock, permissions)
            report.failed[item.key] = f"cannot write it here: {e}"
    return report


def _repair_one(repo: Repository, good: Repository, item: _Damaged, dry_run: bool) -> None:
    if item.entry is None:
        try:
            manifest = good.read_manifest(item.key)
        except IntegrityError as e:
            raise IntegrityError(f"no good copy in {good.url}: {e.message}") from e
        prove_replacement(repo, item.key, manifest)  # this backup's, not just one of its name
        if not dry_run:
            repo.write_manifest(manifest)
            Repository(repo.storage, repo.info).read_manifest(item.key)  # read back, uncached
        return
    try:
        with fetch_verified(good.storage, item.entry) as copy:
            if dry_run:
                return
            repo.storage.put(item.key, copy)
    except IntegrityError as e:
        raise IntegrityError(f"no good copy in {good.url}: {e.message}") from e
    fetch_verified(repo.storage, item.entry).close()  # read back and checked again
    clear_damage(repo.storage, item.key)
