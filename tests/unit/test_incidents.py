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


def test_pauses_inside_a_burst_never_move_its_start() -> None:
    # A busy server pauses a deleteMany now and then (a scheduler slice, a GC): the first
    # entries of the burst come in short streaks. Cutting them off as "stragglers" would
    # make a restore to just before the incident miss the documents they deleted.
    units = [unit(i, "d", "shop.orders", T0 + timedelta(milliseconds=300 * i)) for i in range(3)]  # trickle
    start = T0 + timedelta(seconds=1.5)
    burst = []
    for i in range(300):
        pauses = min(i // 8, 6)  # a 6 ms, then 12 ms, ... 36 ms pause after every 8 of the first 48
        offset_ms = 6 * pauses * (pauses + 1) // 2 + (150 if i >= 3 else 0)  # and a long one after 3
        burst.append(unit(100 + i, "d", "shop.orders", start + timedelta(milliseconds=offset_ms)))
    found = find_incidents(units + burst)
    assert [(i.kind, i.count) for i in found] == [("bulk-delete", 300)]
    assert found[0].ts == burst[0].ts


def test_batched_deletes_of_new_servers_are_one_burst() -> None:
    # MongoDB 6.1+ logs deleteMany as non-transaction applyOps entries of ~10 deletes each.
    units = [
        Unit(
            Timestamp(int(T0.timestamp()), b + 1),
            [Op("d", "shop.orders", {"_id": 10 * b + k}) for k in range(10)],
            transaction=False,
            wall=T0 + timedelta(milliseconds=b),
        )
        for b in range(30)
    ]
    found = find_incidents(units)
    assert [(i.kind, i.ns, i.count) for i in found] == [("bulk-delete", "shop.orders", 300)]
    assert found[0].ts == units[0].ts


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
