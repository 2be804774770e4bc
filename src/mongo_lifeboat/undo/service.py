"""``lifeboat undo``: put back what one incident destroyed, keep everything written since.

- bulk delete / bulk update: the affected documents as they were just before the incident
  (base backup + replay, for those ``_id``s only) go into a side collection, or with
  ``apply`` back into the live collection. A document written again after the incident is
  a conflict: left out and listed. Live writes are compare-and-swap (insert only if absent;
  replace only while the document is still exactly what the incident left), so a write
  racing the undo is never overwritten, and every write is idempotent.
- drop / dropDatabase / rename over: the collections as they were just before, restored
  under their original name when ``apply`` is given and the name is free, else under the
  side name. The choice is journalled in the repository so a rerun writes the same place.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from bson import Timestamp
from pymongo import InsertOne, MongoClient, ReplaceOne
from pymongo.errors import BulkWriteError

from ..catalog.history import History
from ..ejson import to_relaxed
from ..errors import RestoreFailed, UsageError
from ..events import Reporter, Update, silent
from ..faults import crash_point
from ..mongo.nsmap import NamespaceMap, literal_pattern
from ..oplog.apply.applier import id_key, op_id
from ..oplog.apply.entries import units
from ..oplog.capture.sources import resolve
from ..oplog.incidents import Incident, incident_ops
from ..oplog.segments import backup_oplog, iter_entries
from ..repo import layout
from ..repo.repository import Repository
from ..repo.storage import ObjectMissing
from ..restore.pitr import PitrPlan, plan_pitr
from ..restore.service import RestoreOptions, run_restore
from ..timestamps import to_hex16, to_str
from .rebuild import Doc, Fate, apply_op, base_documents, replay_onto

_BATCH = 1000
_DUPLICATE_KEY = 11000
LISTED = 50  # conflicting _ids printed in full; --json always has them all


@dataclass
class UndoOptions:
    apply: bool = False
    into: str | None = None
    dry_run: bool = False
    jobs: int = 4

    def __post_init__(self) -> None:
        if self.apply and self.into:
            raise UsageError("an undo writes either into the live collection or into a side one, not both")


@dataclass
class UndoReport:
    incident: dict[str, Any]
    mode: str  # "apply" | "side-collection" (bulk) ; "restore" (drops)
    destination: list[str]
    base_backup: str
    affected: int = 0
    written: int = 0
    already_restored: int = 0
    conflicts: list[Any] = field(default_factory=list)  # relaxed Extended JSON _ids
    dry_run: bool = False
    checked_through: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would restore" if self.dry_run else "restored"
        what = {"bulk-delete": "deleted", "bulk-update": "updated"}.get(self.incident["kind"], "dropped")
        ns = self.incident["ns"]
        where = ", ".join(self.destination)
        n = len(self.conflicts)
        if self.incident["kind"].startswith("bulk"):
            coll = ns.split(".", 1)[1]
            conflicts = f"{n:,} conflict{'s' if n != 1 else ''}"
            if self.already_restored and not self.written:  # a rerun: say what it did, which is nothing
                return (
                    f"nothing to write: {self.already_restored:,} of {self.affected:,} {what} {coll} are back "
                    f"already (put back by an earlier undo, or by someone); {conflicts}"
                )
            earlier = f"; {self.already_restored:,} were back already" if self.already_restored else ""
            return f"{verb} {self.written:,} of {self.affected:,} {what} {coll} into {where}{earlier}; {conflicts}"
        return f"{verb} {self.affected:,} documents of the {what} {ns} into {where}"


def _side_name(coll: str, incident: Incident) -> str:
    return f"{coll}_undo_{to_hex16(incident.ts)}"


def _phase(report_to: Reporter, name: str, message: str) -> None:
    report_to(Update("undo", "phase", name, message))


def run_undo(
    repo: Repository,
    history: History,
    incident: Incident,
    target: MongoClient[Any],
    opts: UndoOptions,
    report_to: Reporter = silent,
) -> UndoReport:
    if incident.kind.startswith("bulk"):
        return _undo_bulk(repo, history, incident, target, opts, report_to)
    return _undo_drop(repo, history, incident, target, opts, report_to)


# -- bulk deletes and updates -----------------------------------------------------------


def _undo_bulk(
    repo: Repository,
    history: History,
    incident: Incident,
    target: MongoClient[Any],
    opts: UndoOptions,
    report_to: Reporter,
) -> UndoReport:
    ns = incident.ns
    db, coll = ns.split(".", 1)
    pitr = plan_pitr(
        history.manifests,
        history.timeline,
        history.segments,
        incident.ts,
        NamespaceMap.build(include=[literal_pattern(ns)]),
    )
    base = pitr.base.manifest
    dest = ns if opts.apply else f"{db}.{opts.into or _side_name(coll, incident)}"
    report = UndoReport(
        incident.describe(), "apply" if opts.apply else "side-collection", [dest], base.backup_id
    )
    report.dry_run = opts.dry_run

    _phase(report_to, "read", f"reading the {incident.count:,} operations of {incident.id}")
    # One pass over the archive after the incident: its own operations first, then (once the
    # pre-images are rebuilt) everything written after them.
    after_incident = units(iter_entries(repo.storage, [s for s in history.segments if s.end >= incident.ts]))
    members = list(incident_ops(after_incident, incident))
    if len(members) != incident.count:
        raise RestoreFailed(f"{incident.id}: found {len(members)} of its {incident.count} operations")
    ids = {id_key(op_id(op)): op_id(op) for _, op in members}
    last_ts = members[-1][0]
    report.affected = len(ids)

    _phase(
        report_to, "rebuild", f"rebuilding those documents from base backup {base.backup_id} and the oplog"
    )
    pre = base_documents(repo.storage, base, ns, set(ids))
    replay_onto(pre, units(backup_oplog(repo.storage, base, pitr.segments)), ns, set(ids), incident.ts)
    missing = set(ids) - set(pre)
    if missing:  # cannot happen for an incident's own documents unless the history is incomplete
        report.notes.append(f"{len(missing)} document(s) did not exist just before the incident")
    after: dict[Any, Doc | None] = {key: pre.get(key) for key in ids}
    for _, op in members:
        key = id_key(op_id(op))
        after[key] = apply_op(after[key], op)

    _phase(report_to, "check-later-writes", "checking what was written to those documents after the incident")
    fate = Fate(pre, dict(after))
    checked = fate.follow(after_incident, ns, last_ts) or last_ts
    live_to = _follow_live(target, history.deployment, fate, ns, checked, report)
    report.checked_through = to_str(live_to or checked)
    conflicts = fate.conflicts | missing
    todo = [key for key in ids if key not in conflicts and key not in fate.restored]
    report.already_restored = len([key for key in ids if key in fate.back])
    report.conflicts = [to_relaxed(ids[key]) for key in ids if key in conflicts]
    if opts.dry_run:
        report.written = len(todo)
        return report

    _phase(report_to, "write", f"writing {len(todo):,} documents into {dest}")
    dest_coll = target[db][dest.split(".", 1)[1]]
    if opts.apply:
        raced = _write_live(dest_coll, [(key, pre[key], after[key]) for key in todo])
    else:
        raced = set()
        _write_side(dest_coll, [pre[key] for key in ids if key not in conflicts])
    report.written = len(todo) - len(raced)
    report.conflicts += [to_relaxed(ids[key]) for key in raced]
    if raced:
        report.notes.append(
            f"{len(raced)} document(s) were written by someone else during the undo: left alone"
        )
    return report


def _follow_live(
    target: MongoClient[Any], deployment: str, fate: Fate, ns: str, after: Timestamp, report: UndoReport
) -> Timestamp | None:
    """Follow the target's own oplog past the archive, when the target is the deployment."""
    hello = target.admin.command("hello")
    if hello.get("setName") != deployment:
        report.notes.append(
            f"the target is not replica set {deployment}: writes after {to_str(after)} were not checked"
        )
        return None
    # The oplog where this user may read it, else the change stream (a change-stream capture's user).
    since = resolve("auto", target).since(target, after)
    followed = fate.follow(units(since), ns, after)
    if since.incomplete:
        report.notes.append(f"{since.incomplete}: writes in between were not checked")
    return followed


def _write_live(coll: Any, items: list[tuple[Any, Doc, Doc | None]]) -> set[Any]:
    """Put documents back where nothing changed them since the incident: insert where the
    incident deleted (a duplicate key = someone re-created it), replace where it updated
    only while the document is still exactly what the incident left. Returns the keys
    that someone else wrote in the meantime."""
    raced: set[Any] = set()
    for start in range(0, len(items), _BATCH):
        batch = items[start : start + _BATCH]
        inserts = [(key, pre) for key, pre, now in batch if now is None]
        if inserts:
            try:
                coll.bulk_write([InsertOne(pre) for _, pre in inserts], ordered=False)
            except BulkWriteError as e:
                for err in e.details.get("writeErrors", []):
                    if err.get("code") != _DUPLICATE_KEY:
                        raise RestoreFailed(
                            f"writing into {coll.full_name} failed: {err.get('errmsg')}"
                        ) from e
                    key, pre = inserts[err["index"]]
                    current = coll.find_one({"_id": pre["_id"]})
                    if current is None or current != pre:
                        raced.add(key)
        for key, pre, now in batch:
            if now is None:
                continue
            unchanged = {"_id": pre["_id"], "$expr": {"$eq": ["$$ROOT", {"$literal": now}]}}
            if (
                coll.replace_one(unchanged, pre).matched_count == 0
                and coll.find_one({"_id": pre["_id"]}) != pre
            ):
                raced.add(key)
        crash_point("undo-batch-written")
    return raced


def _write_side(coll: Any, docs: list[Doc]) -> None:
    for start in range(0, len(docs), _BATCH):
        batch = docs[start : start + _BATCH]
        coll.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in batch], ordered=False)
        crash_point("undo-batch-written")


# -- drops -----------------------------------------------------------------------------


def _undo_drop(
    repo: Repository,
    history: History,
    incident: Incident,
    target: MongoClient[Any],
    opts: UndoOptions,
    report_to: Reporter,
) -> UndoReport:
    journal_key = layout.undo_journal_key(history.deployment, incident.id)
    journal = _read_journal(repo, journal_key)
    pattern = [literal_pattern(incident.ns) + (".*" if incident.kind == "dropDatabase" else "")]
    if journal is not None and journal.get("done"):
        report = UndoReport(incident.describe(), "restore", journal["destination"], journal["base_backup"])
        report.notes.append(f"{incident.id} was undone already: nothing written")
        return report
    if journal is not None:
        ns_from, ns_to = journal["ns_from"], journal["ns_to"]
    elif incident.kind == "dropDatabase":
        free = not [c for c in target[incident.ns].list_collection_names() if not c.startswith("system.")]
        db = literal_pattern(incident.ns)
        ns_from, ns_to = (
            ([], [])
            if opts.apply and free
            else (
                [f"{db}.$c$"],
                [f"{db}.$c$_undo_{to_hex16(incident.ts)}"],
            )
        )
    else:
        db, coll = incident.ns.split(".", 1)
        free = coll not in target[db].list_collection_names()
        if opts.apply and free and not opts.into:
            ns_from, ns_to = [], []
        else:
            side = opts.into or _side_name(coll, incident)
            ns_from, ns_to = [literal_pattern(incident.ns)], [literal_pattern(f"{db}.{side}")]
    nsmap = NamespaceMap.build(include=pattern, ns_from=ns_from, ns_to=ns_to)
    pitr: PitrPlan = plan_pitr(history.manifests, history.timeline, history.segments, incident.ts, nsmap)
    plan = pitr.base
    report = UndoReport(
        incident.describe(),
        "restore",
        [t.target_ns for t in plan.collections] + [v.target_ns for v in plan.views],
        plan.manifest.backup_id,
    )
    report.dry_run = opts.dry_run
    report.affected = plan.documents
    if not plan.collections and not plan.views:
        report.notes.append("the base backup has none of the dropped collections; they were created later")
    if opts.dry_run:
        return report
    body: dict[str, Any] = {"incident": incident.id, "ns_from": ns_from, "ns_to": ns_to}
    if journal is None:
        repo.storage.put(journal_key, io.BytesIO(json.dumps(body).encode()))
    _phase(
        report_to,
        "restore",
        f"restoring {', '.join(report.destination) or incident.ns} to just before {incident.id}",
    )
    # A rerun (journal present) replaces what an interrupted run left in those namespaces.
    restored = run_restore(
        repo, plan, target, RestoreOptions(jobs=opts.jobs, drop=journal is not None), pitr=pitr
    )
    report.written = restored.documents
    body.update(done=True, destination=report.destination, base_backup=report.base_backup)
    repo.storage.put(journal_key, io.BytesIO(json.dumps(body).encode()))
    return report


def _read_journal(repo: Repository, key: str) -> dict[str, Any] | None:
    try:
        with repo.storage.get(key) as f:
            return dict(json.loads(f.read()))
    except ObjectMissing:
        return None
