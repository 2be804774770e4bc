"""Walk a restored collection and its source side by side, comparing raw BSON bytes.

The drill's data proof reads every restored document and the source's document with the same
``_id``. That is two full reads, so it is made as cheap as reads get:

- documents stay raw: each side is read with ``find_raw_batches`` in ``_id`` order and cut into
  documents by their length prefixes; the ``_id`` is read off the first element's bytes (both
  mongod and SecantusDB store it first) and nothing is decoded unless the two sides disagree;
- the two sides are read at once (each side's batches are fetched by its own thread ahead of
  the walk: they are two servers), and several collections at once, bounded by the drill's job
  count;
- the source's count comes from the same walk (no ``count`` scan): a walk between two oplog
  positions sees what a count taken between them would (see ``Changes.count_bounds``);
- where the source pins snapshot reads (``snapshot_reads``), its side is read as it was at T,
  and the collection is proven exactly (``Walked.at_t``); where it refuses, as it is now.
"""

from __future__ import annotations

import datetime
import queue
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import Decimal128, ObjectId, Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from .. import interrupts
from ..repo.objects import batch_documents
from .changes import id_key
from .snapshot_reads import SnapshotCursor

# Memory stays flat: per side, one batch queued ahead of the one walked (and one being fetched),
# of at most BATCH_DOCS documents (a server's own batches reach 16 MB: x 2 sides x jobs is too much).
BATCHES_AHEAD = 1
BATCH_DOCS = 2000
_DONE = object()
LOOKUP = 500  # unpaired documents looked up on the source at a time

# Bytes of a value after its name, by BSON type, for the fixed-size types.
_FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}
_INT = struct.Struct("<i")


# BSON's comparison order of types (numbers, strings, objects, arrays, binary, ObjectId, bool,
# dates, timestamps, regexes): both servers return _id order by it.
def order_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (8, value)
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, Decimal128):
        return (1, float(value.to_decimal()))
    if isinstance(value, str):
        return (2, value.encode())
    if isinstance(value, ObjectId):
        return (7, value.binary)
    if isinstance(value, datetime.datetime):
        return (9, value.timestamp() if value.tzinfo else value.replace(tzinfo=datetime.UTC).timestamp())
    if isinstance(value, Timestamp):
        return (10, (value.time, value.inc))
    if isinstance(value, bytes):
        return (5, (len(value), value))
    return (3, bson.encode({"v": value}))  # objects, arrays …: approximate; the fallback settles it


def raw_id(doc: bytes) -> bytes:
    """The ``_id`` element's bytes (type, name, value): equal exactly when both the value and its
    BSON type are. Decodes only when ``_id`` is not the first element or of a rare type."""
    if doc[5:9] == b"_id\x00":
        kind = doc[4]
        size = _FIXED.get(kind)
        if size is None:
            if kind in (0x02, 0x0D, 0x0E):  # string, code, symbol: int32 length, then bytes
                size = 4 + _INT.unpack_from(doc, 9)[0]
            elif kind in (0x03, 0x04):  # document, array: their own length
                size = _INT.unpack_from(doc, 9)[0]
            elif kind == 0x05:  # binary: int32 length, subtype, bytes
                size = 5 + _INT.unpack_from(doc, 9)[0]
        if size is not None:
            return doc[4 : 9 + size]
    value = bson.decode(doc)["_id"]
    return bson.encode({"_id": value})[4:-1]


def id_value(element: bytes) -> Any:
    return bson.decode(_INT.pack(len(element) + 5) + element + b"\x00")["_id"]


@dataclass
class Candidate:
    """A restored document the source does not hold as it is: whether that is a failure is
    decided once the oplog after T is known (``key`` is ``id_key`` of its ``_id``)."""

    ns: str
    key: bytes
    id: Any
    problem: str  # "missing on the source" | "differs from the source" | "missing after the restore"


def _candidate(ns: str, element: bytes, problem: str) -> Candidate:
    value = id_value(element)
    return Candidate(ns, id_key(value), value, problem)


@dataclass
class Walked:
    ns: str
    restored: int = 0  # documents on staging
    source: int = 0  # documents the source walk saw
    mismatches: list[Candidate] = field(default_factory=list)
    at_t: bool = False  # the source was read as it was at T (a snapshot read), not as it is now


class _Ahead:
    """A cursor's batches, fetched by a thread from the moment this is made, a few batches ahead
    of the walk: so the two sides' first queries (where a server sorts) run at once."""

    def __init__(self, cursor: Any, name: str) -> None:
        self._box: queue.Queue[Any] = queue.Queue(maxsize=BATCHES_AHEAD)
        self._stop = threading.Event()
        self._cursor = cursor  # raw batches, in _id order; has close()
        threading.Thread(target=self._fetch, name=f"drill-read-{name}", daemon=True).start()

    def _stopped(self) -> bool:
        return self._stop.is_set() or interrupts.cancelled.is_set()

    def _offer(self, item: Any) -> bool:
        """Queue ``item`` unless the walk stopped first (then nobody would take it)."""
        while not self._stopped():
            try:
                self._box.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self) -> None:
        try:
            for batch in self._cursor:
                if not self._offer(batch):
                    return
            self._offer(_DONE)
        except BaseException as e:  # raised again in the walk
            self._offer(e)
        finally:
            self._cursor.close()

    def documents(self) -> Iterator[tuple[bytes, bytes]]:
        """(``_id`` element, document) in ``_id`` order."""
        try:
            while True:
                try:
                    item = self._box.get(timeout=0.5)
                except queue.Empty:
                    interrupts.check()  # an interrupted drill stops within a wait
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                interrupts.check()  # an interrupted drill stops within a batch
                for doc in batch_documents(item):
                    yield raw_id(doc), doc
        finally:
            self._stop.set()


def _in_id_order(collection: Any) -> Any:
    return collection.find_raw_batches({}, sort=[("_id", 1)], batch_size=BATCH_DOCS)


def _source_cursor(collection: Any, at: Timestamp | None) -> tuple[Any, bool]:
    """The source's side: as it was at ``at`` where the server takes the snapshot read, else as
    it is now. (cursor, read at T)."""
    if at is not None:
        try:
            return SnapshotCursor(collection, at, BATCH_DOCS), True
        except OperationFailure:
            pass  # too old for the server's history, or its catalog changed: the stable proof
    return _in_id_order(collection), False


def walk_collection(
    staging: MongoClient[Any], source: MongoClient[Any], ns: str, at: Timestamp | None = None
) -> Walked:
    """Both sides in ``_id`` order; equal ``_id``s compared byte for byte. What the walk does not
    pair (the orders disagree, or one side lacks it) is looked up by ``_id`` on the other side
    afterwards: a restored document the source lacks, and a source document the restore lacks
    (a loss another document's presence would hide from a count). With ``at``, the source is
    read as it was then where it can be (``Walked.at_t``)."""
    db, coll = ns.split(".", 1)
    walked = Walked(ns)
    ours = _Ahead(_in_id_order(staging[db][coll]), "staging")
    cursor, walked.at_t = _source_cursor(source[db][coll], at)
    theirs = _Ahead(cursor, "source").documents()
    there = next(theirs, None)
    unpaired: list[tuple[bytes, bytes]] = []  # restored, not paired with a source document
    passed: list[bytes] = []  # source _ids not paired with a restored document

    def pair(key: bytes, doc: bytes) -> None:
        nonlocal there
        assert there is not None
        walked.source += 1
        if there[1] != doc:
            walked.mismatches.append(_candidate(ns, key, how_they_differ(doc, there[1])))
        there = next(theirs, None)

    for key, doc in ours.documents():
        walked.restored += 1
        if there is not None and there[0] == key:  # the common case: no decoding at all
            pair(key, doc)
            continue
        mine = order_key(id_value(key))
        while there is not None and order_key(id_value(there[0])) < mine:
            walked.source += 1
            passed.append(there[0])
            there = next(theirs, None)
        if there is not None and there[0] == key:
            pair(key, doc)
        else:
            unpaired.append((key, doc))
    while there is not None:
        walked.source += 1
        passed.append(there[0])
        there = next(theirs, None)
    for i in range(0, len(unpaired), LOOKUP):
        _look_up(source[db][coll], unpaired[i : i + LOOKUP], walked, at if walked.at_t else None)
    for i in range(0, len(passed), LOOKUP):
        _look_up_lost(staging[db][coll], passed[i : i + LOOKUP], walked)
    return walked


def _found(collection: Any, ids: list[Any], at: Timestamp | None = None) -> dict[bytes, bytes]:
    """The documents with these ``_id``s (as they were at ``at``, if given), keyed by the value
    (the server matches 1 and 1.0 as one)."""
    found = {}
    where = {"_id": {"$in": ids}}
    cursor = SnapshotCursor(collection, at, LOOKUP, where) if at else collection.find_raw_batches(where)
    try:
        for raw in cursor:
            for doc in batch_documents(raw):
                found[id_key(id_value(raw_id(doc)))] = doc
    finally:
        cursor.close()
    return found


def how_they_differ(restored: bytes, source: bytes) -> str:
    """Why two documents' bytes differ, in words: most often a value, but a server may store a
    document's fields in an order its oplog does not tell (see the README's server notes), and
    that is named as what it is: the same fields and values in another order is still not the
    same document, byte for byte."""
    mine, theirs = bson.decode(restored), bson.decode(source)
    try:
        if _unordered(mine) != _unordered(theirs):
            return "differs from the source"
    except TypeError:  # a value that cannot be hashed (kept as it is): no finer answer
        return "differs from the source"
    return (
        f"differs from the source in field order only (restored: {_fields(mine)}; source: {_fields(theirs)})"
    )


def _unordered(value: Any) -> Any:
    """``value`` with every document's field order removed and every value's type kept."""
    if isinstance(value, dict):
        return ("doc", frozenset((k, _unordered(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("arr", tuple(_unordered(v) for v in value))
    return (type(value).__name__, value if value == value else "nan")  # NaN != NaN


def _fields(doc: dict[str, Any], prefix: str = "") -> str:
    """The field order of ``doc``, sub-documents in braces: ``_id, a, t{x, y}``."""
    parts = []
    for k, v in doc.items():
        parts.append(f"{prefix}{k}" + ("{" + _fields(v) + "}" if isinstance(v, dict) else ""))
    return ", ".join(parts)


def _look_up(collection: Any, batch: list[tuple[bytes, bytes]], walked: Walked, at: Timestamp | None) -> None:
    """Restored documents the walk did not pair, by ``_id`` on the source (at ``at``, if given)."""
    ids = [id_value(key) for key, _ in batch]
    found = _found(collection, ids, at)
    for (_, doc), value in zip(batch, ids, strict=True):
        there = found.get(id_key(value))
        if there is None or there != doc:
            problem = "missing on the source" if there is None else how_they_differ(doc, there)
            walked.mismatches.append(Candidate(walked.ns, id_key(value), value, problem))


def _look_up_lost(collection: Any, batch: list[bytes], walked: Walked) -> None:
    """Source documents the walk did not pair, by ``_id`` on staging: those it lacks."""
    ids = [id_value(key) for key in batch]
    found = _found(collection, ids)
    for value in ids:
        if id_key(value) not in found:
            walked.mismatches.append(Candidate(walked.ns, id_key(value), value, "missing after the restore"))


def walk_all(
    staging: MongoClient[Any],
    source: MongoClient[Any],
    namespaces: list[str],
    jobs: int,
    at: Timestamp | None = None,
) -> list[Walked]:
    """Every namespace walked, ``jobs`` at a time (largest first would need sizes: the order is
    the caller's); the source read at ``at`` where it can be."""
    if jobs <= 1 or len(namespaces) <= 1:
        return [walk_collection(staging, source, ns, at) for ns in namespaces]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="drill-walk") as pool:
        return list(pool.map(lambda ns: walk_collection(staging, source, ns, at), namespaces))
