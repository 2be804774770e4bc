"""The incident finder's rules, on synthetic oplog units."""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import Timestamp

from mongo_lifeboat.oplog.apply.entries import Op, Unit
from mongo_lifeboat.oplog.incidents import find_incidents, incident_ops

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


def _plain(ts: int, op: str, ns: str, wall: datetime, _id: object, session: bytes | None = None) -> Unit:
    o = {"_id": _id} if op == "d" else {"$set": {"x": 1}}
    return Unit(
        Timestamp(int(T0.timestamp()) + ts // 100000, ts % 100000 + 1),
        [Op(op, ns, o, {"_id": _id}, session)],
        wall=wall,
    )


def _traffic_around(burst: list[Unit], kind: str, session: bytes | None = None) -> list[Unit]:
    """Other clients' single writes on the same namespace every 40 ms for 3 s around ``burst``
    (never within 25 ms of its ends), plus inserts elsewhere; in oplog order."""
    first, last = burst[0].wall, burst[-1].wall
    assert first is not None and last is not None
    units: list[Unit] = []
    t = first - timedelta(seconds=1.5)
    n = 0
    while t < last + timedelta(seconds=1.5):
        if not first - timedelta(milliseconds=25) <= t <= last + timedelta(milliseconds=25):
            units.append(
                Unit(
                    Timestamp(0, 0),
                    [Op(kind, "shop.orders", {"_id": f"w{n}"}, {"_id": f"w{n}"}, session)],
                    wall=t,
                )
            )
            units.append(
                Unit(Timestamp(0, 0), [Op("i", "shop.other", {"_id": n})], wall=t + timedelta(milliseconds=3))
            )
        t += timedelta(milliseconds=40)
        n += 1
    merged = sorted([*units, *burst], key=lambda u: u.wall)  # type: ignore[arg-type, return-value]
    for i, u in enumerate(merged):  # oplog order = time order, positions renumbered
        u.ts = Timestamp(int(T0.timestamp()), i + 1)
    return merged


def test_a_burst_under_other_clients_traffic_starts_and_ends_at_its_own_entries() -> None:
    start = T0 + timedelta(seconds=10)
    burst = [
        Unit(
            Timestamp(0, 0),
            [Op("d", "shop.orders", {"_id": i})],
            wall=start + timedelta(microseconds=300 * i),
        )
        for i in range(1200)
    ]
    units = _traffic_around(burst, "d")
    found = find_incidents(units, window_s=10.0)
    assert [(i.kind, i.count, i.form) for i in found] == [("bulk-delete", 1200, "burst")]
    assert found[0].ts == burst[0].ts
    assert [op.o["_id"] for _, op in incident_ops(units, found[0])] == list(range(1200))


def test_retryable_single_writes_inside_a_burst_are_not_counted() -> None:
    # mongod logs a retryable single-document write with its session: never part of a bulk op,
    # even when it lands between the bulk operation's own entries.
    start = T0 + timedelta(seconds=10)
    burst = [
        Unit(
            Timestamp(0, 0),
            [Op("u", "shop.orders", {"$set": {"x": 1}}, {"_id": i})],
            wall=start + timedelta(milliseconds=i),
        )
        for i in range(500)
    ]
    units = []
    for i, u in enumerate(burst):
        units.append(u)
        if i % 7 == 3:  # another client's retryable update, 0.5 ms after a bulk entry
            units.append(
                Unit(
                    Timestamp(0, 0),
                    [Op("u", "shop.orders", {"$set": {"y": 1}}, {"_id": f"w{i}"}, b"s%d" % i)],
                    wall=u.wall + timedelta(microseconds=500),
                )
            )  # type: ignore[operator]
    units = _traffic_around(units, "u", session=b"writer")
    found = find_incidents(units)
    assert [(i.kind, i.count) for i in found] == [("bulk-update", 500)]
    assert found[0].ts == burst[0].ts
    assert [op.o2["_id"] for _, op in incident_ops(units, found[0]) if op.o2] == list(range(500))


def test_batched_deletes_are_told_from_single_deletes_beside_them() -> None:
    start = T0 + timedelta(seconds=10)
    units: list[Unit] = []
    for b in range(120):
        wall = start + timedelta(milliseconds=2 * b)
        units.append(
            Unit(
                Timestamp(0, 0),
                [Op("d", "shop.orders", {"_id": 10 * b + k}) for k in range(10)],
                wall=wall,
                batched=True,
            )
        )
        if b % 15 == 7:  # another client's plain single delete between two batches
            units.append(
                Unit(
                    Timestamp(0, 0),
                    [Op("d", "shop.orders", {"_id": f"single{b}"})],
                    wall=wall + timedelta(milliseconds=1),
                )
            )
    units = _traffic_around(units, "d")
    found = find_incidents(units)
    assert [(i.kind, i.count, i.form) for i in found] == [("bulk-delete", 1200, "batched")]
    assert found[0].ts == units[next(i for i, u in enumerate(units) if u.batched)].ts
    assert sorted(op.o["_id"] for _, op in incident_ops(units, found[0])) == list(range(1200))


def test_one_client_command_of_many_single_deletes_is_one_incident() -> None:
    # A bulk_write of DeleteOne operations: one command (lsid + txnNumber), many entries.
    start = T0 + timedelta(seconds=10)
    burst = [
        Unit(
            Timestamp(0, 0),
            [Op("d", "shop.orders", {"_id": i}, None, b"cmd")],
            wall=start + timedelta(milliseconds=5 * i),
        )
        for i in range(150)
    ]
    units = _traffic_around(burst, "d", session=None)
    found = find_incidents(units)
    assert [(i.kind, i.count, i.form) for i in found] == [("bulk-delete", 150, "command")]
    assert found[0].ts == burst[0].ts
    assert [op.o["_id"] for _, op in incident_ops(units, found[0])] == list(range(150))


def test_a_transaction_incident_lists_its_own_operations() -> None:
    ops = [Op("d", "bank.accounts", {"_id": i}) for i in range(150)] + [Op("i", "bank.log", {"_id": 1})]
    units = [unit(6, "d", "bank.accounts", T0), unit(7, "c", "admin.$cmd", T0, txn_ops=ops)]
    found = find_incidents(units)
    assert [(i.kind, i.count, i.form) for i in found] == [("bulk-delete", 150, "transaction")]
    assert [op.o["_id"] for _, op in incident_ops(units, found[0])] == list(range(150))


def test_a_fast_clients_few_deletes_before_a_burst_do_not_move_its_start() -> None:
    # Three single deletes within a few ms (a busy client), then a trickle, then the burst:
    # the lone entries between them end that little streak, so it never joins the burst.
    walls = [0, 3, 10, 85, 356, 602, 617, 803, 1000]
    units = [unit(i, "d", "shop.orders", T0 + timedelta(milliseconds=w)) for i, w in enumerate(walls)]
    start = T0 + timedelta(milliseconds=1190)
    burst = [unit(100 + i, "d", "shop.orders", start + timedelta(microseconds=10 * i)) for i in range(303)]
    found = find_incidents(units + burst)
    assert [(i.kind, i.count) for i in found] == [("bulk-delete", 303)]
    assert found[0].ts == burst[0].ts


def test_a_lone_write_between_two_bursts_keeps_them_apart() -> None:
    first = [unit(i, "d", "a.b", T0 + timedelta(microseconds=100 * i)) for i in range(150)]
    lone = [unit(500, "d", "a.b", T0 + timedelta(milliseconds=300))]
    second = [
        unit(1000 + i, "d", "a.b", T0 + timedelta(milliseconds=600, microseconds=100 * i)) for i in range(120)
    ]
    found = find_incidents(first + lone + second)
    assert [(i.ts, i.count) for i in found] == [(first[0].ts, 150), (second[0].ts, 120)]


def test_entries_stranded_by_pauses_inside_a_burst_stay_in_it() -> None:
    # A loaded server: the burst's entries come in streaks, some of only one or two entries
    # between pauses of 25-45 ms. They are the burst's own: none may be cut off.
    walls, t = [], 0.0
    for i in range(400):
        walls.append(t)
        t += 0.045 if i % 50 in (10, 11, 12) else (0.025 if i % 50 == 30 else 0.0002)
    units = [unit(i, "u", "shop.orders", T0 + timedelta(seconds=w)) for i, w in enumerate(walls)]
    found = find_incidents(units)
    assert [(i.kind, i.count) for i in found] == [("bulk-update", 400)]
    assert found[0].ts == units[0].ts


def test_a_burst_followed_by_a_long_silence_then_a_lone_write_is_found() -> None:
    burst = [unit(i, "u", "a.b", T0 + timedelta(microseconds=50 * i)) for i in range(150)]
    later = [unit(900, "u", "a.b", T0 + timedelta(seconds=5))]  # further away than the window
    found = find_incidents(burst + later)
    assert [(i.ts, i.count) for i in found] == [(burst[0].ts, 150)]


def test_a_pause_of_any_length_inside_an_uninterrupted_run_never_splits_it() -> None:
    # Issue 37: on a loaded machine one deleteMany of 3,288 was reported as 2,000 (a pause split
    # it). Its entries are one uninterrupted run (no other plain write between them): one
    # incident of the exact count, however long the machine paused it.
    for pause_s in (1.5, 3.0, 30.0):
        walls = [
            T0 + timedelta(microseconds=200 * i, seconds=pause_s if i >= 2000 else 0) for i in range(3288)
        ]
        found = find_incidents([unit(i + 1, "d", "shop.orders", w) for i, w in enumerate(walls)])
        assert [(i.kind, i.count) for i in found] == [("bulk-delete", 3288)], pause_s


def test_busy_single_writers_of_several_kinds_are_not_a_bulk_operation() -> None:
    # Two clients updating, inserting and deleting single documents every 2 ms between them: the
    # updates are dense, but each run of them is interrupted by the clients' other writes.
    kinds = ["u", "i", "u", "d", "u", "u", "i", "d"]
    stream = [
        unit(i + 1, kinds[(i * 5 + i // 8) % 8], "shop.orders", T0 + timedelta(milliseconds=2 * i))
        for i in range(6000)
    ]
    assert find_incidents(stream) == []
    # Uninterrupted, the same updates are one operation: what the oplog cannot tell apart.
    only_updates = [u for u in stream if u.ops[0].op == "u"]
    assert [i.kind for i in find_incidents(only_updates)] == ["bulk-update"]
