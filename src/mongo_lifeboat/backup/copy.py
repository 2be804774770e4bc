"""``lifeboat copy``: seed (or catch up) one repository from another, verified as it copies.

Every object is read back through its checksum before it is written to the target (a bad
object stops the copy, named, and is never written). A backup's manifest is copied last, so
a copy interrupted half-way leaves an incomplete backup in the target, never a complete one
with holes; segments go oldest first, so the target's archive only ever grows at its end.
What the target already has is skipped: a second copy sends only what is new.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from ..catalog.history import deployments
from ..oplog.capture.catchup import copy_archive
from ..repo import layout
from ..repo.objects import fetch_verified
from ..repo.repository import Repository


@dataclass
class CopyReport:
    source: str
    target: str
    dry_run: bool
    backups: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    segments: int = 0
    gaps: int = 0
    objects: int = 0
    bytes: int = 0


def copy_repository(src: Repository, dst: Repository, dry_run: bool = False) -> CopyReport:
    report = CopyReport(src.url, dst.url, dry_run)
    present = {(b.deployment_key, b.backup_id) for b in dst.list_backups() if b.complete}
    for listing in src.list_backups():
        m = listing.manifest
        if m is None:
            continue  # incomplete: nothing to copy
        if (listing.deployment_key, listing.backup_id) in present:
            report.already_there.append(listing.backup_id)
            continue
        report.backups.append(listing.backup_id)
        for entry in m.all_files():
            report.objects += 1
            report.bytes += entry.size
            if not dry_run:
                dst.storage.put(entry.key, fetch_verified(src.storage, entry))
        if not dry_run:  # the commit point, last, byte for byte
            key = layout.manifest_key(m.deployment, m.backup_id)
            with src.storage.get(key) as f:
                dst.storage.put(key, io.BytesIO(f.read()))
    for deployment in deployments(src):
        archive = copy_archive(src.storage, dst.storage, deployment, dry_run)
        report.segments += archive.segments
        report.gaps += archive.gaps
        report.objects += archive.segments
        report.bytes += archive.bytes
    return report
