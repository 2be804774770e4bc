"""Restore to a point in time from a snapshot base: a member started on the snapshot's data,
then the archived oplog replayed on it from the data's own newest entry up to T.

Before anything is written the target must prove it holds that snapshot's data: the same
replica set; its newest oplog entry within the snapshot's consistent range (equal to it when
writes were locked); that very entry, field for field, in the archive; and an unbroken archive
from there to T.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..catalog import snapshots
from ..catalog.history import History, load_history
from ..catalog.points import Point, resolve
from ..catalog.snapshots import SnapshotManifest
from ..config import SnapshotSettings
from ..errors import NotRestorable, NotSnapshotData, RestoreFailed
from ..mongo.catalog import AUTH_COLLECTIONS, list_source_collections
from ..mongo.client import connect, describe
from ..mongo.nsmap import NamespaceMap
from ..oplog.apply.applier import Applier
from ..oplog.apply.entries import units
from ..oplog.apply.indexes import IndexCatalog
from ..oplog.reader import oplog
from ..oplog.segments import Segment, entry_ts, iter_entries, iter_raw_entries
from ..remedies import Remedy
from ..repo.repository import Repository
from ..repo.storage import Storage
from ..timestamps import just_before, to_str, wall_of
from .providers import bring_up, provider_for


@dataclass
class SnapshotRestoreReport:
    snapshot_id: str
    data_at: str  # the target's newest entry: where its data stood
    restored_to: str
    oplog_entries: int = 0
    warnings: list[str] = field(default_factory=list)


def _newest_entry(target: MongoClient[Any]) -> Any:
    return oplog(target).find().sort("$natural", -1).limit(1).next()  # raw BSON


def _covering(history: History, start: Timestamp, stop_before: Timestamp) -> list[Segment]:
    """The archived segments from the one holding ``start`` up to ``stop_before``, unbroken."""
    segs = [s for s in history.segments if s.end >= start]
    if not segs or segs[0].start >= start:
        raise NotRestorable(
            f"the archive does not hold the snapshot data's newest entry {to_str(start)} ({wall_of(start)})",
            "the archiver was not running when the snapshot was taken: it cannot be rolled forward",
        )
    chain = [segs[0]]
    for s in segs[1:]:
        if chain[-1].end >= stop_before:
            break
        if s.start != chain[-1].end:
            raise NotRestorable(
                f"the archive has a gap after {to_str(chain[-1].end)}: {to_str(stop_before)} is past it"
            )
        chain.append(s)
    if chain[-1].end < just_before(stop_before):
        raise NotRestorable(
            f"the archive ends at {to_str(chain[-1].end)} ({wall_of(chain[-1].end)}), before {to_str(stop_before)}",
            "restore to an earlier point, or {do}",
            Remedy("restore-latest"),
        )
    return chain


def check_target(
    storage: Storage,
    manifest: SnapshotManifest,
    history: History,
    target: MongoClient[Any],
    stop_before: Timestamp,
) -> tuple[Timestamp, list[Segment]]:
    """Refuse (NotSnapshotData) a target that is not this snapshot's data; the data's position
    and the segments to replay."""
    try:
        name = target.admin.command("hello").get("setName")
        newest = _newest_entry(target)
    except (PyMongoError, StopIteration) as e:
        raise NotSnapshotData(f"the target has no readable oplog, so it is not a snapshot's data: {e}") from e
    if name != manifest.deployment:
        raise NotSnapshotData(
            f"the target is replica set {name!r}, the snapshot is of {manifest.deployment!r}"
        )
    at: Timestamp = newest["ts"]
    if not manifest.start <= at <= manifest.end:
        expected = (
            to_str(manifest.start)
            if manifest.exact
            else f"between {to_str(manifest.start)} and {to_str(manifest.end)}"
        )
        raise NotSnapshotData(
            f"the target's data ends at {to_str(at)} ({wall_of(at)}); snapshot {manifest.snapshot_id}'s ends {expected}",
            "start the target on the snapshot's data (and nothing else) before restoring",
        )
    if stop_before <= at:
        raise NotRestorable(
            f"{to_str(stop_before)} is before the snapshot's data ({to_str(at)}): pick a base before it"
        )
    segments = _covering(history, at, stop_before)
    archived = next((raw for raw in iter_raw_entries(storage, segments[:1]) if entry_ts(raw) == at), None)
    if archived != newest.raw:  # the very entry, byte for byte
        raise NotSnapshotData(
            f"the target's newest oplog entry {to_str(at)} is not the archive's: its data is not this deployment's"
        )
    return at, segments


def _catalog(target: MongoClient[Any]) -> tuple[IndexCatalog, set[str]]:
    """What the snapshot's data holds: its collections' indexes, and every namespace."""
    catalog, known = IndexCatalog(), set()
    for c in list_source_collections(target):
        if c.db == "admin" and c.name in AUTH_COLLECTIONS:
            continue
        known.add(c.ns)
        if c.type == "collection":
            catalog.add_collection(c.ns, c.indexes)
    return catalog, known


def _reconcile_indexes(target: MongoClient[Any], catalog: IndexCatalog) -> int:
    """Indexes dropped by the replayed oplog go; those it created are built."""
    for ns in catalog.namespaces():
        db, coll = ns.split(".", 1)
        wanted = {s["name"] for s in catalog.specs(ns)} | {"_id_"}
        try:
            present = [ix["name"] for ix in target[db][coll].list_indexes()]
        except PyMongoError:
            continue
        for name in present:
            if name not in wanted:
                target[db][coll].drop_index(name)
    return catalog.build(target, lambda ns: ns)


def restore_from_snapshot(
    storage: Storage,
    manifest: SnapshotManifest,
    history: History,
    target: MongoClient[Any],
    stop_before: Timestamp,
    jobs: int = 4,
) -> SnapshotRestoreReport:
    at, segments = check_target(storage, manifest, history, target, stop_before)
    report = SnapshotRestoreReport(manifest.snapshot_id, to_str(at), to_str(stop_before))
    catalog, known = _catalog(target)
    applier = Applier(target, NamespaceMap.build(), catalog, known, workers=jobs)

    def after_data() -> Any:
        for entry in iter_entries(storage, segments):
            if entry["ts"] > at:
                report.oplog_entries += 1
                yield entry

    try:
        applier.apply(units(after_data()), stop_before)
        _reconcile_indexes(target, catalog)
    except PyMongoError as e:
        raise RestoreFailed(f"replaying onto the snapshot's data failed: {e}") from e
    report.warnings.extend(applier.stats.warnings)
    return report


@dataclass(frozen=True)
class RollForward:
    """What ``restore --base snapshot:ID`` did: the report, where, and to which moment."""

    report: SnapshotRestoreReport
    target: str  # described, never with a password
    stop_before: Timestamp


def roll_forward(
    repository: Repository,
    deployment: str | None,
    base: str,
    to: Point,
    target_uri: str | None,
    settings: SnapshotSettings,
    jobs: int,
    note: Callable[[str], None],
) -> RollForward:
    """A member on a snapshot's data (the one at ``target_uri``, else the one the provider's
    restore brings up), rolled forward through the archive to just before ``to``."""
    history = load_history(repository, deployment)
    manifest = snapshots.load(repository.storage, history.deployment, base)
    stop_before = resolve(to, history, repository.storage, within_archive=True)
    if not target_uri:  # the provider's restore brings a member up on the data, and says where
        provider = provider_for(settings, manifest.provider)
        note(
            f"restore: no --target: running the {provider.name} provider's restore of {manifest.snapshot_id}"
        )
        target_uri = bring_up(
            provider, manifest, "start a member on the snapshot's data and pass it as --target URI"
        )
    client = connect(target_uri, role="target")
    try:
        note(f"restore: checking that {describe(target_uri)} holds snapshot {manifest.snapshot_id}'s data")
        report = restore_from_snapshot(repository.storage, manifest, history, client, stop_before, jobs)
    finally:
        client.close()
    return RollForward(report, describe(target_uri), stop_before)
