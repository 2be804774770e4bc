"""Issue 22, first step: change-stream events from a real server, turned into the archive's
entry form and replayed by the existing applier onto the pre-image, give the source's state
(whole-collection content hashes): updates of array elements and numeric-named fields,
removals, truncations, replacements, deletes, indexes, a collMod, a rename, a transaction, a view,
a drop.
An event the entry form cannot express is refused, never dropped."""

from __future__ import annotations

import time
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.errors import UnsupportedEvent
from mongo_lifeboat.mongo.nsmap import NamespaceMap
from mongo_lifeboat.oplog.apply.applier import Applier
from mongo_lifeboat.oplog.apply.entries import units
from mongo_lifeboat.oplog.apply.indexes import IndexCatalog
from mongo_lifeboat.oplog.capture.change_events import to_entries

from ..support.data import assert_same
from ..support.servers import ServerPool

PRE_IMAGE = [
    {
        "_id": i,
        "a": [1, 2, 3, {"x": i}],
        "m": {"1": "one", "2": {"3": "three"}},
        "tags": ["p", "q", "r"],
        "n": i,
    }
    for i in range(20)
]


def _events(client: Any, start: Timestamp, last_marker: str) -> list[dict[str, Any]]:
    """Every event from ``start`` through the marker insert (the workload's last write)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    with client.watch(start_at_operation_time=start, show_expanded_events=True) as stream:
        while time.monotonic() < deadline:
            event = stream.try_next()
            if event is None:
                continue  # try_next waits up to the server's await time: no busy loop
            events.append(event)
            if event.get("documentKey", {}).get("_id") == last_marker:
                return events
    pytest.fail(f"the change stream did not reach the marker ({len(events)} events)")


def test_change_events_replayed_on_the_pre_image_give_the_source(servers: ServerPool) -> None:
    src = servers.new().client()
    target = servers.new().client()
    src.shop.orders.insert_many(PRE_IMAGE)
    src.shop.gone.insert_one({"_id": 1})
    target.shop.orders.insert_many(PRE_IMAGE)
    target.shop.gone.insert_one({"_id": 1})
    start = src.admin.command("hello")["operationTime"]

    orders = src.shop.orders
    orders.update_one({"_id": 1}, {"$set": {"a.1": 20, "m.1": "uno", "m.2.3": "tres"}, "$unset": {"n": ""}})
    orders.update_one({"_id": 2}, {"$push": {"tags": {"$each": ["s", "t"], "$slice": -2}}})
    orders.update_one({"_id": 3}, {"$pop": {"tags": 1}})
    orders.update_one({"_id": 4}, {"$pull": {"a": {"$gt": 1}}})
    orders.update_one({"_id": 5}, [{"$set": {"tags": {"$slice": ["$tags", 1]}}}])
    orders.update_one({"_id": 6}, {"$set": {"a.3.x": "deep", "new.field": True}})
    orders.update_one({"_id": 7}, {"$unset": {"a.0": ""}})
    orders.replace_one({"_id": 8}, {"whole": "new"})
    orders.delete_one({"_id": 9})
    orders.update_many({"_id": {"$gte": 10}}, {"$inc": {"n": 100}})
    orders.insert_one({"_id": "late", "v": 1})
    orders.create_index("n", name="n_1")
    orders.create_index("tags", name="tags_1")
    orders.drop_index("tags_1")
    with src.start_session() as session, session.start_transaction():
        orders.insert_one({"_id": "txn", "v": 2}, session=session)
        orders.update_one({"_id": 0}, {"$set": {"in_txn": True}}, session=session)
        orders.delete_one({"_id": 11}, session=session)
    src.admin.command("renameCollection", "shop.orders", to="shop.orders2")
    src.shop.command("collMod", "orders2", validator={"n": {"$exists": True}}, validationLevel="moderate")
    src.shop.create_collection("recent", viewOn="orders2", pipeline=[{"$match": {"n": {"$gte": 100}}}])
    src.shop.gone.drop()
    src.shop.marker.insert_one({"_id": "end"})

    entries = list(to_entries(_events(src, start, "end")))
    transactions = [e for e in entries if e["op"] == "c" and "applyOps" in e["o"]]
    assert len(transactions) == 1 and len(transactions[0]["o"]["applyOps"]) == 3  # applied whole
    catalog = IndexCatalog()
    applier = Applier(target, NamespaceMap.build(), catalog)
    applier.apply(units(entries))
    catalog.build(target, applier.nsmap.target)
    assert_same(src, target)
    assert {ix["name"] for ix in target.shop.orders2.list_indexes()} == {"_id_", "n_1"}
    # The collMod (a modify event the server describes): the validator and its level.
    options = {c["name"]: c.get("options", {}) for c in target.shop.list_collections()}
    assert options["orders2"]["validator"] == {"n": {"$exists": True}}
    assert options["orders2"]["validationLevel"] == "moderate"


def test_an_event_the_entry_form_cannot_express_is_refused() -> None:
    # A modify that gives only the options' new state (no command described: mongod's form, and
    # SecantusDB's for a view's or an index's collMod), one with a field collMod replay does not
    # know, and an unknown event.
    for event in (
        {"operationType": "modify", "operationDescription": {}},
        {"operationType": "modify", "updateDescription": {"updatedFields": {"validator": {}}}},
        {"operationType": "modify", "operationDescription": {"validator": {}, "someNewOption": 1}},
        {"operationType": "reshardCollection"},
    ):
        event.update(clusterTime=Timestamp(1, 1), ns={"db": "shop", "coll": "c"})
        with pytest.raises(UnsupportedEvent, match=rf"{event['operationType']} on shop\.c"):
            list(to_entries([event]))
