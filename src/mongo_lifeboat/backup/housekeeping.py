"""Backups that are running, died, or are no longer wanted: their state, ``delete`` and ``cleanup``.

A backup holds a lease while it runs (see ``run_backup``). Without a manifest it is
*running* while that lease is held, else *incomplete* (killed or failed): never used, and
``cleanup`` removes it. Deleting removes the manifest first, so a delete that is itself
interrupted leaves an incomplete backup, never a complete one with missing objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..catalog.timeline import Timeline
from ..errors import BackupNotFound, LeaseHeld, ObjectLocked, UsageError
from ..remedies import Remedy
from ..repo import layout
from ..repo.lease import held_by_live_process
from ..repo.repository import BackupListing, Repository


def status(repo: Repository, listing: BackupListing) -> str:
    """``complete``, ``damaged``, ``running`` or ``incomplete``."""
    if listing.complete:
        return "complete"
    if listing.damaged:
        return "damaged"
    key = layout.lock_key_in(listing.deployment_key, layout.backup_lease_name(listing.backup_id))
    return "running" if held_by_live_process(repo.storage, key) else "incomplete"


@dataclass
class Deletion:
    backup_id: str
    deployment: str
    status: str
    objects: int = 0
    bytes: int = 0
    deleted: bool = False
    keys: list[str] = field(default_factory=list)


def planned_deletion(repo: Repository, listing: BackupListing, state: str) -> Deletion:
    prefix = f"{listing.deployment_key}/backups/{listing.backup_id}/"
    objects = list(repo.storage.list(prefix))
    # The manifest first: once it is gone the backup is incomplete, whatever happens next.
    objects.sort(key=lambda o: (not o.key.endswith("/" + layout.MANIFEST), o.key))
    return Deletion(
        listing.backup_id,
        listing.deployment_key,
        state,
        len(objects),
        sum(o.size for o in objects),
        keys=[o.key for o in objects],
    )


def execute(repo: Repository, plan: Deletion) -> Deletion:
    repo.storage.delete(plan.keys)
    plan.deleted = True
    return plan


def delete_backup(
    repo: Repository, backup_id: str, timeline: Timeline | None, force: bool, dry_run: bool
) -> Deletion:
    """Delete one backup. A running one is refused (exit 15); so is the only base backup of a
    restorable window (deleting it would make that window unrestorable) unless ``force``."""
    matches = [b for b in repo.list_backups() if b.backup_id == backup_id]
    if not matches:
        raise BackupNotFound(f"backup {backup_id} not found in {repo.url}", remedy=Remedy("list-backups"))
    if len(matches) > 1:
        raise UsageError(f"backup id {backup_id} exists for several deployments")
    listing = matches[0]
    state = status(repo, listing)
    if state == "running":
        raise LeaseHeld(f"backup {backup_id} is still running", "wait for it to finish, or stop it first")
    if state == "complete" and timeline is not None and not force:
        for window in timeline.windows:
            if window.backups == [backup_id]:
                raise UsageError(
                    f"backup {backup_id} is the only base of the restorable window "
                    f"{window.describe()['start_wall']} .. {window.describe()['end_wall']}: "
                    "deleting it makes that window unrestorable",
                    "take a newer backup first, or {do}",
                    Remedy("force"),
                )
    plan = planned_deletion(repo, listing, state)
    # Never a delete marker over a locked object: on a versioned, locked bucket it would hide
    # the backup from every listing while its data stays, undeletable, behind the marker.
    locked = [(key, until) for key in plan.keys if (until := repo.storage.locked_until(key)) is not None]
    if locked:
        until = max(u for _, u in locked)
        raise ObjectLocked(
            f"backup {backup_id} is under Object Lock until {until.isoformat(timespec='seconds')} "
            f"({len(locked)} of its {len(plan.keys)} objects): nothing was deleted",
        )
    return plan if dry_run else execute(repo, plan)


# A live writer touches its partial file as it writes and renews its lease every few seconds;
# one untouched this long belongs to a process that is gone (and whose lease has expired).
PARTIAL_AGE_S = 15 * 60


def sweep_partials(repo: Repository, dry_run: bool) -> tuple[str, ...]:
    """Half-written objects left by killed writes (a backup, copy or repair killed before its
    rename): never visible as objects, but they hold space until removed."""
    return repo.storage.sweep_partials(PARTIAL_AGE_S, dry_run)


def cleanup(repo: Repository, dry_run: bool) -> list[Deletion]:
    """Remove every incomplete backup whose lease has expired (running ones are left alone)."""
    out = []
    for listing in repo.list_backups():
        state = status(repo, listing)
        if state == "incomplete":
            plan = planned_deletion(repo, listing, state)
            out.append(plan if dry_run else execute(repo, plan))
    return out
