"""A wire-level test double of a mongod primary, for what SecantusDB cannot show: ``fsyncLock``.

It speaks just enough of the MongoDB wire protocol (the OP_QUERY handshake, OP_MSG commands)
for pymongo to connect, discover a one-member replica set, read the newest oplog entry, and
lock and unlock writes; every command it receives is logged, in order, with its time. It
stores nothing: it is a stand-in for a server's answers, used only where no real server in
the test bed can give them.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from datetime import UTC, datetime
from typing import Any

import bson
from bson import Timestamp

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013


class FakeMongod:
    def __init__(self, set_name: str = "rs0", newest: Timestamp | None = None) -> None:
        self.set_name = set_name
        self.newest = newest or Timestamp(int(time.time()), 1)
        self.log: list[tuple[str, float, dict[str, Any]]] = []
        self.locked = False
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name="fake-mongod").start()

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}/?directConnection=true&serverSelectionTimeoutMS=3000"

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _, _ in self.log]

    def when(self, name: str) -> float:
        with self._lock:
            return next(t for n, t, _ in self.log if n == name)

    def close(self) -> None:
        self._stopped = True
        self._server.close()

    # -- the protocol -------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                header = _read(conn, 16)
                if header is None:
                    return
                length, request_id, _, opcode = struct.unpack("<iiii", header)
                body = _read(conn, length - 16)
                if body is None:
                    return
                if opcode == OP_QUERY:
                    end = body.index(b"\x00", 4)
                    doc = bson.decode(body[end + 9 :][: struct.unpack("<i", body[end + 9 : end + 13])[0]])
                    reply = bson.encode(self._command(doc.get("$query", doc)))
                    payload = struct.pack("<iqii", 0, 0, 0, 1) + reply
                    conn.sendall(struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_REPLY) + payload)
                elif opcode == OP_MSG:
                    size = struct.unpack("<i", body[5:9])[0]
                    doc = bson.decode(body[5 : 5 + size])
                    payload = struct.pack("<I", 0) + b"\x00" + bson.encode(self._command(doc))
                    conn.sendall(struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_MSG) + payload)
                else:
                    return

    def _command(self, doc: dict[str, Any]) -> dict[str, Any]:
        name = next(iter(doc))
        with self._lock:
            if name not in ("hello", "isMaster", "ismaster", "ping", "endSessions"):
                self.log.append((name, time.monotonic(), doc))
        now = datetime.now(UTC)
        if name in ("hello", "isMaster", "ismaster"):
            return {
                "ismaster": True, "isWritablePrimary": True, "helloOk": True, "secondary": False,
                "setName": self.set_name, "setVersion": 1, "hosts": [self.host], "primary": self.host,
                "me": self.host, "maxWireVersion": 21, "minWireVersion": 0, "maxBsonObjectSize": 16 * 1024 * 1024,
                "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000, "localTime": now,
                "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
            }  # fmt: skip
        if name == "buildInfo":
            return {"version": "7.0.0-test-double", "ok": 1.0}
        if name == "replSetGetConfig":
            return {"config": {"_id": self.set_name, "members": [{"_id": 0, "host": self.host}]}, "ok": 1.0}
        if name == "replSetGetStatus":
            return {
                "set": self.set_name,
                "members": [{"name": self.host, "stateStr": "PRIMARY", "optimeDate": now}],
                "ok": 1.0,
            }
        if name == "fsync":
            self.locked = bool(doc.get("lock"))
            return {"info": "now locked against writes", "lockCount": 1, "ok": 1.0}
        if name == "fsyncUnlock":
            if not self.locked:
                return {"ok": 0.0, "errmsg": "fsyncUnlock called when not locked", "code": 125}
            self.locked = False
            return {"info": "fsyncUnlock completed", "lockCount": 0, "ok": 1.0}
        if name == "find" and doc.get("find") == "oplog.rs":
            entry = {"ts": self.newest, "t": 1, "op": "n", "ns": "", "o": {"msg": "test double"}, "wall": now}
            return {"cursor": {"id": 0, "ns": "local.oplog.rs", "firstBatch": [entry]}, "ok": 1.0}
        return {"ok": 1.0}


def _read(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
