"""The incident finder's rules, on synthetic oplog units."""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import Timestamp

from mongo_lifeboat.oplog.entries import Op, Unit
from mongo_lifeboat.oplog.incidents import find_incidents

T0 = datetime(2026, 11, 24, 2, 0, 0)


def unit(
    i: int, op: str, ns: str, wall: datetime, o: dict | None = None, txn_ops: list[Op] | None = None
) -> Unit:
    ts = Timestamp(int(wall.timestamp()), i)
    ops = txn_ops or [Op(op, ns, o or {"_id": i}, {"_id": i} if op == "u" else None)]
    return Unit(ts, ops, transaction=bool(txn_ops), wall=wall)


def test_delete_many_burst_starts_after_stragglers() -> None:
    units = [unit(i, "d", "shop.orders", T0 + timedelta(milliseconds=200 * i)) for i in range(5)]  # a trickle
    burst_start = T0 + timedelta(seconds=1.2)
    units += [
        unit(100 + i, "d", "shop.orders", burst_start + timedelta(microseconds=500 * i)) for i in range(300)
    ]
    units += [unit(1000 + i, "i", "shop.other", burst_start + timedelta(milliseconds=i)) for i in range(50)]
    found = find_incidents(sorted(units, key=lambda u: u.ts))
    assert [(i.kind, i.ns, i.count) for i in found] == [("bulk-delete", "shop.orders", 300)]
    assert found[0].ts == units[5].ts and found[0].id.startswith("inc-")


def test_a_slow_trickle_is_not_an_incident() -> None:
    units = [unit(i, "d", "app.sessions", T0 + timedelta(milliseconds=100 * i)) for i in range(500)]  # 10/s
    assert find_incidents(units) == []


def test_bulk_update_and_threshold() -> None:
    units = [unit(i, "u", "a.b", T0 + timedelta(microseconds=100 * i)) for i in range(99)]
    assert find_incidents(units) == []
    assert [i.kind for i in find_incidents(units, min_docs=50)] == ["bulk-update"]


def test_ddl_incidents() -> None:
    units = [
        unit(1, "c", "shop.$cmd", T0, {"drop": "orders"}),
        unit(2, "c", "old.$cmd", T0, {"dropDatabase": 1}),
        unit(3, "c", "admin.$cmd", T0, {"renameCollection": "a.tmp", "to": "a.live", "dropTarget": True}),
        unit(4, "c", "admin.$cmd", T0, {"renameCollection": "a.x", "to": "a.y", "dropTarget": False}),
    ]
    assert [(i.kind, i.ns) for i in find_incidents(units)] == [
        ("drop", "shop.orders"),
        ("dropDatabase", "old"),
        ("rename-over", "a.live"),
    ]


def test_a_transaction_of_many_deletes_is_one_incident() -> None:
    ops = [Op("d", "bank.accounts", {"_id": i}) for i in range(150)]
    found = find_incidents([unit(7, "c", "admin.$cmd", T0, txn_ops=ops)])
    assert [(i.kind, i.count) for i in found] == [("bulk-delete", 150)]


def test_namespace_filter() -> None:
    units = [unit(i, "d", "a.keep", T0 + timedelta(microseconds=i)) for i in range(200)]
    units += [unit(500 + i, "d", "b.skip", T0 + timedelta(microseconds=i)) for i in range(200)]
    found = find_incidents(sorted(units, key=lambda u: u.ts), ns_filter=lambda ns: ns.startswith("a."))
    assert [i.ns for i in found] == ["a.keep"]
