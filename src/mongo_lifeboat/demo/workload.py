"""A deterministic workload: seed data, a writer that logs what it did, and an oracle.

The writer performs inserts, nested and array updates, replacements, deletes,
``update_many``, pipeline updates and an index creation across several databases,
and records for each operation the oplog positions around it. ``replay`` applies
the same logical operations to an identically seeded server up to a position:
an oracle independent of Lifeboat's oplog applier. (Only for an ``update_many``
or ``insert_many`` cut in the middle by the position does it ask the source's
oplog *which* documents the server had reached; how to apply stays the writer's.)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import Decimal128, Int64, Timestamp
from pymongo import ASCENDING, MongoClient

# Namespaces chosen to exercise name handling: unicode, spaces, mixed case, > 60 chars.
LONG_NAME = "events_with_a_deliberately_long_collection_name_over_sixty_characters_x"
COLLECTIONS = [
    ("shop", "orders"),
    ("shop", "Customers"),
    ("analytics", "Événements clients"),
    ("analytics", LONG_NAME),
]
BASE_TIME = datetime(2026, 1, 1, 12, 0, 0)


def _doc(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "_id": i,
        "grp": i % 7,
        "name": f"item-{i}",
        "qty": rng.randint(0, 100),
        "price": Decimal128(f"{rng.randint(1, 99999) / 100:.2f}"),
        "big": Int64(rng.randint(0, 2**40)),
        "at": BASE_TIME + timedelta(seconds=i),
        "tags": [rng.choice("abcdef") for _ in range(rng.randint(0, 4))],
        "addr": {
            "city": rng.choice(["Oslo", "Lyon", "Porto"]),
            "geo": {"lat": rng.random(), "lon": rng.random()},
        },
    }


def seed(client: MongoClient[Any], docs_per_collection: int = 500, rng_seed: int = 7) -> None:
    """Create the same collections, options, indexes, views and documents every time."""
    rng = random.Random(rng_seed)
    shop = client.shop
    shop.create_collection("orders", validator={"qty": {"$gte": 0}}, validationLevel="moderate")
    shop.create_collection("Customers", collation={"locale": "fr", "strength": 2})
    client.analytics.create_collection("Événements clients")
    client.analytics.create_collection(LONG_NAME)
    for db, coll in COLLECTIONS:
        client[db][coll].insert_many([_doc(rng, i) for i in range(docs_per_collection)])
    shop.orders.create_index([("grp", ASCENDING), ("qty", -1)], name="grp_qty")
    shop.Customers.create_index("name", unique=True)
    client.analytics[LONG_NAME].create_index("at", expireAfterSeconds=10**9)
    shop.create_collection("big_orders", viewOn="orders", pipeline=[{"$match": {"qty": {"$gt": 90}}}])


@dataclass
class LoggedOp:
    kind: str
    db: str
    coll: str
    args: dict[str, Any]
    ts_before: Timestamp
    ts_after: Timestamp

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.coll}"


def _execute(
    client: MongoClient[Any], kind: str, db: str, coll: str, args: dict[str, Any], session: Any = None
) -> None:
    c = client[db][coll]
    if kind == "insert_one":
        c.insert_one(dict(args["doc"]), session=session)
    elif kind == "insert_many":
        c.insert_many([dict(d) for d in args["docs"]], session=session)
    elif kind == "update_one":
        c.update_one(args["filter"], args["update"], session=session)
    elif kind == "update_many":
        c.update_many(args["filter"], args["update"], session=session)
    elif kind == "replace_one":
        c.replace_one(args["filter"], args["doc"], session=session)
    elif kind == "delete_one":
        c.delete_one(args["filter"], session=session)
    elif kind == "delete_many":
        c.delete_many(args["filter"], session=session)
    elif kind == "create_index":
        c.create_index(args["keys"], name=args["name"], session=session)
    else:
        raise ValueError(kind)


MULTI_DOCUMENT = {"insert_many", "update_many", "delete_many"}


class Writer:
    """Deterministic writes on a thread; ``log`` is what happened, with oplog positions."""

    def __init__(
        self,
        client: MongoClient[Any],
        docs_per_collection: int = 500,
        rng_seed: int = 11,
        max_ops: int | None = None,
    ) -> None:
        self.client = client
        self.rng = random.Random(rng_seed)
        self.next_id = docs_per_collection
        self.live: dict[str, list[int]] = {
            f"{d}.{c}": list(range(docs_per_collection)) for d, c in COLLECTIONS
        }
        self.log: list[LoggedOp] = []
        self.max_ops = max_ops
        self.ops_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.index_created = False

    def _plan_op(self) -> tuple[str, str, str, dict[str, Any]]:
        rng = self.rng
        db, coll = rng.choice(COLLECTIONS)
        ns = f"{db}.{coll}"
        live = self.live[ns]
        roll = rng.random()
        if not self.index_created and len(self.log) >= 40:
            self.index_created = True
            return (
                "create_index",
                "analytics",
                "Événements clients",
                {"keys": [("addr.city", 1), ("qty", 1)], "name": "city_qty"},
            )
        if roll < 0.22 or len(live) < 20:
            doc = _doc(rng, self.next_id)
            self.next_id += 1
            live.append(doc["_id"])
            return "insert_one", db, coll, {"doc": doc}
        target = rng.choice(live)

        def update(spec: dict[str, Any] | list[dict[str, Any]]) -> tuple[str, str, str, dict[str, Any]]:
            return "update_one", db, coll, {"filter": {"_id": target}, "update": spec}

        if roll < 0.34:
            return update(
                {
                    "$set": {"addr.geo.lat": rng.random(), "addr.zip": str(rng.randint(1000, 9999))},
                    "$inc": {"qty": 1},
                }
            )
        if roll < 0.44:
            return update(
                {"$push": {"tags": {"$each": [rng.choice("xyz")], "$slice": -5}}, "$pop": {"nums": 1}}
            )
        if roll < 0.50:
            return update({"$unset": {"addr.geo": ""}, "$set": {"tags.0": "first"}})
        if roll < 0.58:
            doc = _doc(rng, target)
            doc["replaced"] = True
            return "replace_one", db, coll, {"filter": {"_id": target}, "doc": doc}
        if roll < 0.66:
            live.remove(target)
            return "delete_one", db, coll, {"filter": {"_id": target}}
        if roll < 0.72:
            bulk = {"$inc": {"qty": 2}, "$set": {"bulk": True}}
            return (
                "update_many",
                db,
                coll,
                {"filter": {"grp": rng.randint(0, 6), "qty": {"$lt": 30}}, "update": bulk},
            )
        if roll < 0.80:  # a pipeline update
            return update(
                [{"$set": {"total": {"$multiply": ["$qty", 3]}, "name": {"$concat": ["$name", "!"]}}}]
            )
        if roll < 0.86:
            docs = [_doc(rng, self.next_id + k) for k in range(3)]
            self.next_id += 3
            live.extend(d["_id"] for d in docs)
            return "insert_many", db, coll, {"docs": docs}
        return update({"$set": {"nested.deep.er": {"v": rng.randint(0, 9), "arr": [1, {"k": rng.random()}]}}})

    def run(self) -> None:
        try:
            with self.client.start_session(causal_consistency=True) as session:
                self.client.admin.command("ping", session=session)
                before = _newest(self.client)
                while not self._stop.is_set() and (self.max_ops is None or len(self.log) < self.max_ops):
                    kind, db, coll, args = self._plan_op()
                    _execute(self.client, kind, db, coll, args, session)
                    after = session.operation_time
                    assert after is not None  # a causally consistent session always has one
                    self.log.append(LoggedOp(kind, db, coll, args, before, after))
                    before = after
        except BaseException as e:  # surfaced by stop()
            self.error = e
        finally:
            self.ops_done.set()

    def start(self) -> Writer:
        self._thread = threading.Thread(target=self.run, name="lifeboat-workload-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[LoggedOp]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self.error:
            raise self.error
        return self.log


def _newest(client: MongoClient[Any]) -> Timestamp:
    return client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1).next()["ts"]


def replay(
    client: MongoClient[Any],
    log: list[LoggedOp],
    included: Callable[[Timestamp], bool],
    source: MongoClient[Any] | None = None,
) -> int:
    """Apply the logged operations whose oplog entries ``included`` accepts. Returns ops applied."""
    applied = 0
    for op in log:
        if included(op.ts_after):
            _execute(client, op.kind, op.db, op.coll, op.args)
            applied += 1
        elif op.kind in MULTI_DOCUMENT and included(_next(op.ts_before)):
            if source is None:
                raise ValueError("a multi-document operation is cut by the position: pass the source")
            ids = _ids_reached(source, op, included)
            if op.kind == "insert_many":
                _execute(
                    client, op.kind, op.db, op.coll, {"docs": [d for d in op.args["docs"] if d["_id"] in ids]}
                )
            else:
                cut = {"filter": {"$and": [op.args["filter"], {"_id": {"$in": list(ids)}}]}}
                _execute(client, op.kind, op.db, op.coll, {**op.args, **cut})
            applied += 1
    return applied


def _next(ts: Timestamp) -> Timestamp:
    return Timestamp(ts.time, ts.inc + 1)


def _ids_reached(source: MongoClient[Any], op: LoggedOp, included: Callable[[Timestamp], bool]) -> set[Any]:
    ids = set()
    query = {"ns": op.ns, "ts": {"$gt": op.ts_before, "$lte": op.ts_after}}
    for e in source.local["oplog.rs"].find(query):
        if included(e["ts"]):
            ids.add((e.get("o2") or e["o"])["_id"])
    return ids


@dataclass
class WorkloadFacts:
    """What a run did, for people: counts per kind."""

    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, log: list[LoggedOp]) -> WorkloadFacts:
        counts: dict[str, int] = {}
        for op in log:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        return cls(counts)
