"""Issue 22, update replay fidelity: generated documents (nested objects and arrays, fields named
with digits) and generated updates (``$set`` of array elements and numeric-named fields,
``$unset``, ``$push`` with ``$slice``, ``$pop``, ``$pull``, pipeline updates that cut arrays,
replacements) run on a real server under a change stream; replaying each document's events,
in the archive's entry form, onto its pre-image gives the server's document byte for byte.
At least 2,000 generated documents, each with its own updates."""

from __future__ import annotations

import time
from typing import Any

import bson
import pytest
from bson import Timestamp
from bson.raw_bson import RawBSONDocument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import OperationFailure

from mongo_lifeboat.oplog.apply.updates import apply_update, is_replacement
from mongo_lifeboat.oplog.capture.change_events import to_entries

from ..support.servers import ServerPool

PER_EXAMPLE, EXAMPLES = 20, 110  # generated documents: 2,200

KEYS = st.sampled_from(["a", "b", "c", "0", "1", "2", "x1"])
SCALARS = st.one_of(st.integers(-5, 5), st.text("xyz", max_size=3), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
DOCS = st.dictionaries(KEYS, VALUES, min_size=1, max_size=5)
PATHS = st.lists(st.one_of(KEYS, st.sampled_from(["0", "1", "3"])), min_size=1, max_size=3).map(".".join)
UPDATES = st.one_of(
    st.builds(lambda p, v: {"$set": {p: v}}, PATHS, VALUES),
    st.builds(lambda p: {"$unset": {p: ""}}, PATHS),
    st.builds(
        lambda p, vs, n: {"$push": {p: {"$each": vs, "$slice": n}}},
        KEYS,
        st.lists(SCALARS, max_size=3),
        st.integers(-3, 3),
    ),
    st.builds(lambda p, d: {"$pop": {p: d}}, KEYS, st.sampled_from([1, -1])),
    st.builds(lambda p, v: {"$pull": {p: v}}, KEYS, SCALARS),
    st.builds(
        lambda p, n: [{"$set": {p: {"$slice": [f"${p}", n]}}}],
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 2),
    ),
    st.builds(lambda d: d, DOCS),  # a replacement
)
CASES = st.lists(
    st.tuples(DOCS, st.lists(UPDATES, min_size=1, max_size=4)), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE
)


def _events_until(client: Any, start: Timestamp, marker: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    with client.watch(start_at_operation_time=start, show_expanded_events=True) as stream:
        while time.monotonic() < deadline:
            event = stream.try_next()
            if event is None:
                continue  # try_next waits for the server's await time: no busy loop
            if event.get("documentKey", {}).get("_id") == marker:
                return events
            events.append(event)
    pytest.fail("the change stream did not reach the marker")


def test_replayed_update_events_give_the_document_byte_for_byte(servers: ServerPool) -> None:
    client = servers.new().client()
    coll = client.fidelity.docs
    raw = client.fidelity.get_collection(
        "docs", codec_options=bson.CodecOptions(document_class=RawBSONDocument)
    )
    checked: list[int] = []
    counter = iter(range(10**9))

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(CASES)
    def run(cases: list[tuple[dict[str, Any], list[Any]]]) -> None:
        start = client.admin.command("hello")["operationTime"]
        pre: dict[int, dict[str, Any]] = {}
        for doc, updates in cases:
            _id = next(counter)
            pre[_id] = {"_id": _id, **doc}
            coll.insert_one(dict(pre[_id]))
            for update in updates:
                try:
                    if isinstance(update, dict) and not any(k.startswith("$") for k in update):
                        coll.replace_one({"_id": _id}, update)
                    else:
                        coll.update_one({"_id": _id}, update)
                except OperationFailure:
                    continue  # an update the server refuses changes nothing (and logs nothing)
        marker = f"end-{next(counter)}"
        coll.insert_one({"_id": marker})
        replayed = dict(pre)
        for entry in to_entries(e for e in _events_until(client, start, marker)):
            _id = (entry.get("o2") or entry["o"])["_id"]
            if entry["op"] == "u":
                o = entry["o"]
                replayed[_id] = {"_id": _id, **o} if is_replacement(o) else apply_update(replayed[_id], o)
        for _id in pre:
            stored = raw.find_one({"_id": _id})
            assert stored is not None
            assert bson.encode(replayed[_id]) == stored.raw, (
                pre[_id],
                replayed[_id],
                bson.decode(stored.raw),
            )
        checked.append(len(pre))

    run()
    assert sum(checked) >= 2000
