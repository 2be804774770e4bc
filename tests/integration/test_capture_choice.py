"""Issue 22, item 1: ``capture = "auto"`` reads the oplog where the user may, and the change
stream otherwise. A user without a read on ``local`` is shown by a wire-level test double that
refuses every oplog read as mongod does (Unauthorized, code 13); the readable case is a real
SecantusDB server."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.oplog.capture.sources import ChangeStreamSource, OplogSource, resolve

from ..support.servers import ServerPool
from ..support.wire_double import FakeMongod


class NoOplogRead(FakeMongod):
    def _command(self, doc: dict[str, Any]) -> dict[str, Any]:
        if next(iter(doc)) == "find" and doc.get("find") == "oplog.rs":
            return {"ok": 0.0, "code": 13, "codeName": "Unauthorized", "errmsg": "not authorized on local"}
        return super()._command(doc)


def test_auto_takes_the_change_stream_when_the_oplog_may_not_be_read() -> None:
    double = NoOplogRead()
    try:
        with MongoClient(double.uri) as client:
            assert isinstance(resolve("auto", client, 1.0), ChangeStreamSource)
            assert isinstance(resolve("oplog", client, 1.0), OplogSource)  # asked for: no probing
    finally:
        double.close()


def test_auto_takes_the_oplog_where_it_may_be_read(servers: ServerPool) -> None:
    source = servers.new()
    with MongoClient(source.uri) as client:
        assert isinstance(resolve("auto", client, 1.0), OplogSource)
        assert isinstance(resolve("change-stream", client, 1.0), ChangeStreamSource)
