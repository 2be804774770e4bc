"""Which collections the replay can change (issue 21, item 2): those it writes, and every
collection of a database one of its commands touches (both databases of a rename)."""

from __future__ import annotations

from typing import Any

from bson import Timestamp

from mongo_lifeboat.restore.early_indexes import replayed


def _entry(i: int, op: str, ns: str, o: dict[str, Any]) -> dict[str, Any]:
    return {"ts": Timestamp(100, i), "op": op, "ns": ns, "o": o, "o2": {"_id": 1} if op == "u" else None}


def test_the_replay_unsettles_what_it_writes_and_the_databases_its_commands_touch() -> None:
    entries = [
        _entry(1, "i", "shop.orders", {"_id": 1}),
        _entry(2, "u", "shop.carts", {"$v": 2, "diff": {"u": {"a": 1}}}),
        _entry(3, "n", "", {"msg": "periodic noop"}),
        _entry(4, "c", "crm.$cmd", {"createIndexes": "people", "v": 2, "key": {"x": 1}, "name": "x_1"}),
        _entry(5, "c", "old.$cmd", {"renameCollection": "old.a", "to": "archive.a", "dropTarget": True}),
    ]
    written, commanded = replayed(entries)
    assert written == {"shop.orders", "shop.carts"}
    assert commanded == {"crm", "old", "archive"}
