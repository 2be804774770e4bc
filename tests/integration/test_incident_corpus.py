"""Issue 37, part 1: the incident finder on a labelled corpus of real workloads, against a real
server: busy clients writing single documents (several kinds, with and without sessions,
retryable writes on and off) must raise nothing; every real multi-document operation (of several
sizes, under that traffic) must be found once, with its exact count.

Run with ``-s`` to see the precision/recall table (quoted in the README)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import DeleteOne, MongoClient, UpdateOne

from mongo_lifeboat.oplog.apply.entries import units
from mongo_lifeboat.oplog.incidents import find_incidents

from ..support.servers import Server, ServerPool
from ..support.single_writers import Clients

Expected = list[tuple[str, str, int]]  # (kind, namespace, count)


@dataclass
class Workload:
    name: str
    run: Callable[[MongoClient[dict[str, Any]], str], Expected]


def _seed(c: MongoClient[dict[str, Any]], n: int, coll: str = "orders") -> None:
    c.shop[coll].insert_many([{"_id": i, "qty": i % 50} for i in range(n)])


SHOP = ("shop.orders", "shop.carts")  # the collections the bulk operations hit, written busily here


def singles(clients: int, retry: bool, sessions: bool, kinds: str = "iud") -> Callable[..., Expected]:
    def run(c: MongoClient[dict[str, Any]], uri: str) -> Expected:
        with Clients(uri, clients, retry, sessions, kinds, SHOP) as w:
            w.wait_ops(6000)
        return []

    return run


def under_traffic(
    op: Callable[[MongoClient[dict[str, Any]]], Expected], seed: int
) -> Callable[..., Expected]:
    def run(c: MongoClient[dict[str, Any]], uri: str) -> Expected:
        _seed(c, seed)
        with Clients(uri, 2) as w:
            w.wait_ops(300)
            expected = op(c)
            w.wait_ops(300)
        return expected

    return run


def delete_many(n: int) -> Callable[..., Expected]:
    def op(c: MongoClient[dict[str, Any]]) -> Expected:
        deleted = c.shop.orders.delete_many({"_id": {"$lt": n}}).deleted_count
        assert deleted == n
        return [("bulk-delete", "shop.orders", n)] if n >= 100 else []

    return under_traffic(op, n + 50)


def update_many(n: int) -> Callable[..., Expected]:
    def op(c: MongoClient[dict[str, Any]]) -> Expected:
        assert c.shop.orders.update_many({"_id": {"$lt": n}}, {"$set": {"flag": True}}).modified_count == n
        return [("bulk-update", "shop.orders", n)] if n >= 100 else []

    return under_traffic(op, n + 50)


# A bulk_write of single-document operations is one client command destroying many documents:
# an incident (mongod logs its session on every entry; a server that logs none shows its
# statements as one uninterrupted run in their collection).


def bulk_write_updates(c: MongoClient[dict[str, Any]]) -> Expected:
    result = c.shop.orders.bulk_write([UpdateOne({"_id": i}, {"$set": {"b": 1}}) for i in range(400)])
    assert result.modified_count == 400
    return [("bulk-update", "shop.orders", 400)]


def bulk_write_deletes(c: MongoClient[dict[str, Any]]) -> Expected:
    assert c.shop.orders.bulk_write([DeleteOne({"_id": i}) for i in range(250)]).deleted_count == 250
    return [("bulk-delete", "shop.orders", 250)]


def drop(c: MongoClient[dict[str, Any]]) -> Expected:
    c.shop.orders.drop()
    return [("drop", "shop.orders", 0)]


def drop_database(c: MongoClient[dict[str, Any]]) -> Expected:
    c.drop_database("shop")
    return [("dropDatabase", "shop", 0)]


def rename_over(c: MongoClient[dict[str, Any]]) -> Expected:
    c.shop.staging.insert_one({"_id": 1})
    c.admin.command("renameCollection", "shop.staging", to="shop.orders", dropTarget=True)
    return [("rename-over", "shop.orders", 0)]


def transaction(c: MongoClient[dict[str, Any]]) -> Expected:
    with c.start_session() as s:
        s.with_transaction(lambda s: c.shop.orders.delete_many({"_id": {"$lt": 150}}, session=s))
    return [("bulk-delete", "shop.orders", 150)]


def insert_many(c: MongoClient[dict[str, Any]]) -> Expected:
    c.shop.more.insert_many([{"_id": i} for i in range(2000)])
    return []  # nothing destroyed


CORPUS = [
    Workload("singles, 2 clients, retryable writes", singles(2, True, False)),
    Workload("singles, 2 clients, no retryable writes", singles(2, False, False)),
    Workload("singles, 2 clients, explicit sessions", singles(2, True, True)),
    Workload("singles, 4 clients, retryable writes", singles(4, True, False)),
    Workload("singles, 2 clients, updates and deletes only", singles(2, False, False, "ud")),
    Workload("deleteMany 3,288 under traffic", delete_many(3288)),
    Workload("deleteMany 100 under traffic", delete_many(100)),
    Workload("deleteMany 99 under traffic (below --min-docs)", delete_many(99)),
    Workload("updateMany 1,000 under traffic", update_many(1000)),
    Workload("updateMany 150 under traffic", update_many(150)),
    Workload("bulk_write of 400 UpdateOne under traffic", under_traffic(bulk_write_updates, 500)),
    Workload("bulk_write of 250 DeleteOne under traffic", under_traffic(bulk_write_deletes, 300)),
    Workload("drop under traffic", under_traffic(drop, 200)),
    Workload("dropDatabase under traffic", under_traffic(drop_database, 200)),
    Workload("renameCollection dropTarget under traffic", under_traffic(rename_over, 200)),
    Workload("transaction of 150 deletes under traffic", under_traffic(transaction, 200)),
    Workload("insert_many 2,000 under traffic", under_traffic(insert_many, 10)),
]


def _found(server: Server, since: Any) -> Expected:
    oplog = server.client().local["oplog.rs"]
    entries = oplog.find({"ts": {"$gt": since}}).sort("$natural", 1)
    return [(i.kind, i.ns, i.count) for i in find_incidents(units(entries))]


def test_the_finder_on_a_labelled_corpus(servers: ServerPool) -> None:
    rows, true_positives, reported, expected_total = [], 0, 0, 0
    for workload in CORPUS:
        server = servers.new()
        client = server.client()
        since = client.local["oplog.rs"].find_one(sort=[("$natural", -1)])
        expected = workload.run(client, server.uri)
        found = _found(server, since["ts"])
        hits = [f for f in found if f in expected]
        true_positives += len(hits)
        reported += len(found)
        expected_total += len(expected)
        rows.append((workload.name, expected, found))
        server.stop()
    precision = true_positives / reported if reported else 1.0
    recall = true_positives / expected_total if expected_total else 1.0
    print(f"\n{'workload':<50} {'expected':<40} found")
    for name, expected, found in rows:
        print(f"{name:<50} {expected!s:<40} {found}")
    print(
        f"precision {precision:.2f} ({true_positives}/{reported}), recall {recall:.2f} ({true_positives}/{expected_total})"
    )
    wrong = [(n, e, f) for n, e, f in rows if sorted(f) != sorted(e)]
    assert not wrong, wrong
    assert precision == 1.0 and recall == 1.0
