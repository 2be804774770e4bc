"""Read the oplog forward from a position, in bounded batches, exactly once each entry.

Plain queries (``ts > position``), never one long tailable cursor: a cursor's
continuity is the server's promise, and a test server was seen to skip entries under
load. Entries can share a ts (a transaction's operations on some servers): the next
read starts at ``>= position`` and skips the entries of that ts already returned, so
no batch boundary ever loses or repeats one.
"""

from __future__ import annotations

import logging
from typing import Any

from bson import Timestamp
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.errors import OperationFailure
from pymongo.read_concern import ReadConcern

from ..mongo.codec import RAW_CODEC

log = logging.getLogger(__name__)


def oplog(client: MongoClient[Any]) -> Any:
    return client.local.get_collection("oplog.rs", codec_options=RAW_CODEC)


def newest_ts(client: MongoClient[Any]) -> Timestamp:
    return oplog(client).find({}, {"ts": 1}).sort("$natural", DESCENDING).limit(1).next()["ts"]


def oldest_ts(client: MongoClient[Any]) -> Timestamp:
    return oplog(client).find({}, {"ts": 1}).sort("$natural", ASCENDING).limit(1).next()["ts"]


class OplogReader:
    """``position``: the last entry returned (or the start, exclusive).

    With ``majority``, only majority-committed entries are read (an entry a rollback could
    still undo is never archived), on servers that support that read concern.
    """

    def __init__(
        self, client: MongoClient[Any], position: Timestamp, batch: int = 5000, majority: bool = False
    ) -> None:
        self.client = client
        self.position = position
        self.batch = batch
        self._at_position = 0  # entries already returned whose ts == position
        self._collection = oplog(client)
        if majority:
            self._collection = self._collection.with_options(read_concern=ReadConcern("majority"))

    def read(self) -> tuple[list[Any], bool]:
        """(new raw entries in order, caught_up): caught_up when nothing more was there."""
        op = "$gte" if self._at_position else "$gt"
        limit = self.batch + self._at_position
        cursor = self._collection.find({"ts": {op: self.position}}).sort("$natural", ASCENDING)
        try:
            found = list(cursor.limit(limit))
        except OperationFailure as e:
            if self._collection.read_concern.level != "majority":
                raise
            # This server cannot read the oplog at majority: read it locally from now on.
            log.warning("majority reads of the oplog are not supported (%s); reading locally", e.code)
            self._collection = oplog(self.client)
            return self.read()
        caught_up = len(found) < limit
        skip = self._at_position
        out = []
        for entry in found:
            ts = entry["ts"]
            if ts == self.position and skip:
                skip -= 1
                continue
            self._at_position = self._at_position + 1 if ts == self.position else 1
            self.position = ts
            out.append(entry)
        return out, caught_up
