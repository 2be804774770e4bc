"""The pieces of ``history`` and ``diff`` that need no server: reading an ``_id`` as typed,
matching it as MongoDB does, and what changed between two versions of a document."""

from __future__ import annotations

import bson
import pytest
from bson import Decimal128, Int64, ObjectId

from mongo_lifeboat.errors import UsageError
from mongo_lifeboat.past.changes import changes
from mongo_lifeboat.past.ids import element_of, id_elements, ns_pattern, parse_id, same_id, value_of


def test_an_id_is_read_as_extended_json_or_a_bare_word() -> None:
    oid = ObjectId()
    assert parse_id(f'{{"$oid": "{oid}"}}') == oid
    assert parse_id("42") == 42 and parse_id('"A-17"') == "A-17" and parse_id("A-17") == "A-17"
    assert parse_id('{"a": 1, "b": 2}') == {"a": 1, "b": 2}
    with pytest.raises(UsageError, match="not an _id"):
        parse_id('{"a": ')


def test_numbers_match_across_their_types_and_nothing_else_does() -> None:
    for a, b in [(1, Int64(1)), (1, 1.0), (Int64(7), Decimal128("7")), (2.5, Decimal128("2.5"))]:
        assert same_id(a, b) and same_id(b, a)
    assert not same_id(1, "1") and not same_id(True, 1) and not same_id(1, 2)
    assert not same_id({"a": 1, "b": 2}, {"b": 2, "a": 1})  # field order is part of a document _id
    raw = bson.encode({"x": 0, "_id": Int64(5)})
    assert any(e in raw for e in id_elements(5))  # found in raw bytes whatever the stored type
    assert not any(e in bson.encode({"_id": 6}) for e in id_elements(5))
    assert value_of(element_of(Decimal128("1.5"))) == Decimal128("1.5")


def test_an_entrys_namespace_is_found_in_its_raw_bytes() -> None:
    entry = bson.encode({"op": "i", "ns": "shop.orders", "o": {"_id": 1}})
    assert ns_pattern("shop.orders") in entry
    assert ns_pattern("shop.order") not in entry and ns_pattern("shop.orders2") not in entry


def test_changes_between_two_versions() -> None:
    before = {"_id": 1, "qty": 2, "tags": ["a", "b", "c"], "lines": [{"n": 1}], "gone": True}
    after = {"_id": 1, "qty": 3, "tags": ["a"], "lines": [{"n": 5}, {"n": 6}], "new": {"x": 1}}
    assert changes(before, after) == {
        "set": {"qty": 3, "lines.0.n": 5, "lines.1": {"n": 6}, "new": {"x": 1}},
        "removed": ["gone"],
        "truncated": {"tags": 1},
    }
    assert changes(None, {"_id": 1}) == {"created": {"_id": 1}}
    assert changes({"_id": 1}, None) == {"gone": True}
    assert changes({"_id": 1, "n": 1}, {"_id": 1, "n": 1.0}) == {"set": {"n": 1.0}}  # a type change is one
    assert changes({"_id": 1}, {"_id": 1}) == {}
