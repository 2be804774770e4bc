"""The drill's raw walk: documents cut from a raw batch and ``_id``s read off their bytes."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import bson
import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from hypothesis import given
from hypothesis import strategies as st

from mongo_lifeboat.drill.changes import id_key
from mongo_lifeboat.drill.walk import id_value, order_key, raw_id
from mongo_lifeboat.repo.objects import batch_documents

IDS: list[Any] = [
    1,
    -(2**40),
    Int64(7),
    2.5,
    "order-1",
    "",
    ObjectId("6566a1b2c3d4e5f601234567"),
    datetime.datetime(2026, 12, 4, 7, 0, tzinfo=datetime.UTC),
    Timestamp(1700000000, 3),
    True,
    None,
    Decimal128("1.10"),
    Binary(uuid.UUID(int=5).bytes, 4),
    b"raw",
    {"a": 1, "b": [1, 2]},
    Regex("^a", "i"),
    MinKey(),
    MaxKey(),
]


@pytest.mark.parametrize("value", IDS, ids=lambda v: type(v).__name__)
def test_the_id_is_read_off_the_bytes_as_the_encoder_writes_it(value: Any) -> None:
    doc = bson.encode({"_id": value, "x": {"y": [1, "z"]}})
    element = raw_id(doc)
    assert element == bson.encode({"_id": value})[4:-1]
    assert id_key(id_value(element)) == id_key(value)


def test_an_id_that_is_not_first_is_found_by_decoding() -> None:
    doc = bson.encode({"x": 1, "_id": "late"})
    assert id_value(raw_id(doc)) == "late"


def test_int32_and_int64_ids_are_different_bytes() -> None:
    """The walk pairs only identical bytes; the lookup by value settles 1 vs Int64(1)."""
    assert raw_id(bson.encode({"_id": 1})) != raw_id(bson.encode({"_id": Int64(1)}))


NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5).filter(
    lambda k: k != "_id"
)
VALUES = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20) | st.binary(max_size=20)


@given(st.lists(st.dictionaries(NAMES, VALUES, max_size=4)))
def test_a_raw_batch_is_cut_into_its_documents(docs: list[dict[str, Any]]) -> None:
    encoded = [bson.encode({"_id": i, **d}) for i, d in enumerate(docs)]
    assert list(batch_documents(b"".join(encoded))) == encoded


def test_numbers_sort_before_strings_and_by_value() -> None:
    values = ["b", 3, 1.5, "a", ObjectId("6566a1b2c3d4e5f601234567"), Int64(2)]
    assert sorted(values, key=order_key) == [1.5, Int64(2), 3, "a", "b", values[4]]
