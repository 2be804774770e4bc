"""The drill's proof that a restore is right: structure and data, against the manifest and
the live source (DESIGN §8). Every failure names what failed: namespace, ``_id``, object."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Timestamp
from pymongo import MongoClient

from ..ejson import from_ejson
from ..mongo.indexes import comparable_all
from ..mongo.nsmap import NamespaceMap
from ..oplog.reader import written_through
from ..restore.plan import RestorePlan
from ..verify.compare import CollectionSummary, summarize
from .changes import Changes
from .walk import Candidate, walk_all

BATCH = 500  # _ids counted on staging at a time
LISTED = 20  # differing documents named per namespace (all are counted)


@dataclass
class Proof:
    failures: list[dict[str, Any]] = field(default_factory=list)
    documents_restored: int = 0  # in the restored collections, after the replay
    documents_compared: int = 0
    documents_skipped: int = 0
    collections_at_t: int = 0  # proven against the source as it was at T (snapshot reads)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> documents

    def fail(self, step: str, problem: str, **where: Any) -> None:
        self.failures.append({"step": step, "problem": problem, **where})

    def skip(self, reason: str, documents: int) -> None:
        if documents:
            self.documents_skipped += documents
            self.skipped[reason] += documents


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ("uuid",)}


def check_structure(
    proof: Proof,
    staging: MongoClient[Any],
    source: MongoClient[Any],
    plan: RestorePlan,
    changed_before_t: set[str],
    changes: Changes,
) -> None:
    """Collections, views, index specs and options: as the manifest says (unless a command
    changed the namespace between the backup and T), and as the source has them now (unless
    a command changed it after T)."""
    nsmap = plan.nsmap
    restored = summarize(staging, nsmap, contents=False)
    live = summarize(source, nsmap, contents=False)
    for task in [*plan.collections, *plan.views]:
        if task.is_buckets:
            continue
        ns, entry = task.target_ns, task.entry
        got = restored.get(ns)
        if task.source_ns in changed_before_t:
            continue  # the replayed commands decide its shape: compared with the source below
        if got is None:
            proof.fail("structure", "missing after the restore", ns=ns)
            continue
        expected = CollectionSummary(
            ns, entry.type, indexes=comparable_all([from_ejson(ix) for ix in entry.indexes])
        )
        if got.type != expected.type:
            proof.fail("structure", f"type {got.type}, the backup has {expected.type}", ns=ns)
        if entry.type != "view" and got.indexes != expected.indexes:
            proof.fail("structure", f"indexes {got.indexes} != the backup's {expected.indexes}", ns=ns)
        want = _options(from_ejson(entry.options))
        have = {k: got.options.get(k) for k in want}
        if have != want:
            proof.fail("structure", f"options {have} != the backup's {want}", ns=ns)
    for ns, got in restored.items():
        there = live.get(ns)
        if there is None or not changes.stable_collection(ns):
            continue  # gone from the source, or changed after T: nothing to compare with
        if got.type != there.type or got.indexes != there.indexes:
            proof.fail(
                "structure",
                f"restored {got.type} {got.indexes} != the source's {there.type} {there.indexes}",
                ns=ns,
            )
        elif _options(got.options) != _options(there.options):
            proof.fail("structure", f"options {got.options} != the source's {there.options}", ns=ns)


def data_namespaces(client: MongoClient[Any], nsmap: NamespaceMap) -> set[str]:
    """The collections (not views, not time-series buckets) the drill's scope selects."""
    return {
        ns
        for ns, s in summarize(client, nsmap, contents=False).items()
        if s.type == "collection" and ".system." not in ns
    }


def judge_absent(proof: Proof, changes: Changes, absent: list[str], counts: Counts) -> None:
    """Collections the source has and the restore lacks: a failure, unless they may not have
    existed at T (a command after T made them, or every document they hold was written after T)."""
    if changes.incomplete:
        return  # what happened after T is not known: the data step fails saying so
    for ns in absent:
        have = counts.documents.get(ns, 0)
        if not changes.stable_collection(ns):
            continue  # created (or renamed into) after T
        if have <= len(changes.touched.get(ns, ())):
            proof.skip("collection written only after T (it may not have existed at T)", have)
            continue
        proof.fail(
            "structure", f"missing after the restore: the source holds it ({have} documents) at T", ns=ns
        )


@dataclass
class Counts:
    """Source counts taken between two oplog positions (to reconcile with the oplog)."""

    at: Timestamp
    by: Timestamp
    documents: dict[str, int]


@dataclass
class Compared:
    restored: dict[str, int]  # documents per restored namespace
    candidates: list[Candidate]  # restored documents the source does not hold as they are
    counts: Counts  # the source's, between two oplog positions (at T exactly for ``at_t``)
    at_t: set[str] = field(default_factory=set)  # namespaces whose source was read as it was at T


def compare_with_source(
    staging: MongoClient[Any],
    source: MongoClient[Any],
    namespaces: list[str],
    absent: list[str],
    jobs: int,
    snapshot_at: Timestamp | None = None,
) -> Compared:
    """Every restored document against the source's, byte for byte (``walk``), ``jobs``
    collections at a time; the source's counts from the same walks (and of the ``absent``
    collections, which the restore lacks, by a count), all between two oplog positions. With
    ``snapshot_at``, the source is read as it was then wherever the server allows it."""
    at, _ = written_through(source)  # all it counts up to here is surely visible to the walks
    walked = walk_all(staging, source, namespaces, jobs, snapshot_at)
    documents = {w.ns: w.source for w in walked}
    for ns in absent:
        db, coll = ns.split(".", 1)
        documents[ns] = source[db][coll].count_documents({})
    return Compared(
        {w.ns: w.restored for w in walked},
        [c for w in walked for c in w.mismatches],
        Counts(at, written_through(source)[1], documents),
        {w.ns for w in walked if w.at_t},
    )


def restored_and_written(
    staging: MongoClient[Any], changes: Changes, namespaces: list[str]
) -> dict[str, int]:
    """Per ns, how many restored documents were written on the source after T (left out)."""
    out = {}
    for ns in namespaces:
        db, coll = ns.split(".", 1)
        ids = [bson.decode(key)["_id"] for key in changes.touched.get(ns, ())]
        out[ns] = sum(
            staging[db][coll].count_documents({"_id": {"$in": ids[i : i + BATCH]}})
            for i in range(0, len(ids), BATCH)
        )
    return out


def judge_data(
    proof: Proof,
    changes: Changes,
    restored: dict[str, int],
    written: dict[str, int],
    candidates: list[Candidate],
    counts: Counts,
    at_t: AbstractSet[str] = frozenset(),
) -> None:
    """Differences on documents written after T are expected (skipped, counted); any other is
    a failure. Counts must reconcile with the inserts and deletes after T. A namespace whose
    source was read as it was at T (``at_t``) is judged exactly: every difference is a failure
    and the counts must be equal."""
    if changes.incomplete and set(restored) - at_t:
        proof.fail("data", f"cannot prove the data: {changes.incomplete}")
        return
    for ns, n in restored.items():
        if ns in at_t:
            proof.documents_compared += n
            if counts.documents.get(ns) != n:
                proof.fail(
                    "data",
                    f"the source held {counts.documents.get(ns)} documents at T; the restore {n}",
                    ns=ns,
                )
            continue
        if not changes.stable_collection(ns):
            proof.skip("collection changed by a command after T", n)
            continue
        proof.skip("written on the source after T", written.get(ns, 0))
        proof.documents_compared += n - written.get(ns, 0)
        lo, hi = changes.count_bounds(ns, n)
        have = counts.documents.get(ns)
        if have is not None and not lo <= have <= hi:
            proof.fail(
                "data",
                f"the source holds {have} documents; the restore ({n}) with the inserts and deletes "
                f"after T gives {lo if lo == hi else f'{lo}..{hi}'}",
                ns=ns,
            )
    named: Counter[str] = Counter()
    for c in candidates:
        exempt = not changes.stable_collection(c.ns) or changes.written(c.ns, c.key)
        if exempt and c.ns not in at_t:
            continue
        named[c.ns] += 1
        if named[c.ns] <= LISTED:
            proof.fail("data", c.problem, ns=c.ns, _id=repr(c.id))
    for ns, n in named.items():
        if n > LISTED:
            proof.fail("data", f"{n - LISTED} more documents differ", ns=ns)
