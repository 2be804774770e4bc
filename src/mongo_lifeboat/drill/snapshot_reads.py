"""The source as it was at T: snapshot reads (``readConcern: snapshot, atClusterTime``), where
the server really pins them.

With them, the drill's proof is exact: every restored document must equal the source's at T,
and every count must be equal, with nothing set aside as "written after T". mongod (5.0 and
later, a replica set member) keeps the history for ``minSnapshotHistoryWindowInSeconds``
(300 s by default); a T older than that, or a collection whose catalog changed, is refused
(``SnapshotTooOld``, ``SnapshotUnavailable`` …), and that collection is proven the other way,
by its stable documents. SecantusDB accepts the read concern but does not pin reads (DESIGN
§6), so it is never asked: a snapshot read it answered would prove nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import Timestamp
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import PyMongoError

SNAPSHOT_READS_WIRE_VERSION = 13  # MongoDB 5.0: atClusterTime outside a transaction
_RAW = CodecOptions(document_class=RawBSONDocument)


def pins_snapshots(client: MongoClient[Any]) -> bool:
    """Whether reads at a cluster time really see the data as it was then: a replica set member
    of MongoDB 5.0 or later, and not a server known to accept the read concern and ignore it."""
    try:
        hello = client.admin.command("hello")
        build = client.admin.command("buildInfo")
    except PyMongoError:
        return False
    if "secantusVersion" in build:
        return False
    return bool(hello.get("setName")) and int(hello.get("maxWireVersion", 0)) >= SNAPSHOT_READS_WIRE_VERSION


class SnapshotCursor:
    """A collection in ``_id`` order as it was at ``at``, as raw batches (concatenated BSON
    documents, as ``find_raw_batches`` gives them). The ``find`` is sent when this is made, so
    a refusal (too old, catalog changed) is raised here, before the walk begins."""

    def __init__(
        self, collection: Any, at: Timestamp, batch_size: int, where: dict[str, Any] | None = None
    ) -> None:
        self._db = collection.database
        self._name = collection.name
        self._batch_size = batch_size
        # getMore must come in the find's session; not causal: the read concern is given whole.
        self._session = collection.database.client.start_session(causal_consistency=False)
        try:
            reply = self._db.command(
                "find",
                self._name,
                filter=where or {},
                sort={"_id": 1},
                batchSize=batch_size,
                readConcern={"level": "snapshot", "atClusterTime": at},
                session=self._session,
                codec_options=_RAW,
            )
        except BaseException:
            self._session.end_session()
            raise
        self._id = int(reply["cursor"]["id"])
        self._first: bytes | None = _joined(reply["cursor"]["firstBatch"])

    def __iter__(self) -> Iterator[bytes]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while self._id:
            reply = self._db.command(
                "getMore",
                self._id,
                collection=self._name,
                batchSize=self._batch_size,
                session=self._session,
                codec_options=_RAW,
            )
            self._id = int(reply["cursor"]["id"])
            yield _joined(reply["cursor"]["nextBatch"])

    def close(self) -> None:
        try:
            if self._id:
                self._db.command("killCursors", self._name, cursors=[self._id], session=self._session)
        except PyMongoError:
            pass  # the server reaps it; nothing to prove here
        finally:
            self._id = 0
            self._session.end_session()


def _joined(batch: Any) -> bytes:
    return b"".join(doc.raw for doc in batch)
