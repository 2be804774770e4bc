"""A wire-level test double of a mongod primary, for what SecantusDB cannot show: ``fsyncLock``
(and, with ``mongos=True``, a mongos's ``hello``: no sharded cluster can run here).

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
    def __init__(self, set_name: str = "rs0", newest: Timestamp | None = None, mongos: bool = False) -> None:
        self.set_name = set_name
        self.mongos = mongos  # answer hello as a mongos does (a sharded cluster's router)
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
        if name in ("hello", "isMaster", "ismaster") and self.mongos:
            return {
                "ismaster": True, "isWritablePrimary": True, "helloOk": True, "msg": "isdbgrid",
                "maxWireVersion": 21, "minWireVersion": 0, "maxBsonObjectSize": 16 * 1024 * 1024,
                "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000, "localTime": now,
                "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
            }  # fmt: skip
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


class OplogDouble(FakeMongod):
    """A primary whose oplog commits out of order, answering as SecantusDB 0.7 does: a query
    (``find``, and the first batches of a tailable cursor) returns every committed entry,
    also past one whose write is still in flight; a tailable cursor's later batches go on
    from the visible point the open saw (the newest entry below which nothing is in flight)
    and stop at the visible point now. SecantusDB cannot be made to hold a write in flight
    on demand: this double can (``mint``, then ``commit`` in any order)."""

    def __init__(self, set_name: str = "rs0") -> None:
        self.rows: list[dict[str, Any]] = []  # {"seq", "entry", "visible"}, in seq (= ts) order
        self.cursors: dict[int, dict[str, Any]] = {}
        self._cursor_ids = 1000
        self._changed = threading.Condition()
        self._second = int(time.time())
        super().__init__(set_name, Timestamp(self._second, 1))

    def mint(self, n: int = 1) -> list[Timestamp]:
        """``n`` new entries, in flight (not visible) until committed."""
        with self._changed:
            out = []
            for _ in range(n):
                seq = len(self.rows) + 1
                ts = Timestamp(self._second, seq)
                entry = {"op": "i", "ns": "shop.ticks", "o": {"_id": seq}, "ts": ts, "t": 1, "v": 2,
                         "wall": datetime.now(UTC)}  # fmt: skip
                self.rows.append({"seq": seq, "entry": entry, "visible": False})
                out.append(ts)
            return out

    def commit(self, *stamps: Timestamp) -> None:
        with self._changed:
            for row in self.rows:
                if row["entry"]["ts"] in stamps:
                    row["visible"] = True
            self.newest = max(r["entry"]["ts"] for r in self.rows if r["visible"])
            self._changed.notify_all()

    def write(self, n: int = 1) -> list[Timestamp]:
        stamps = self.mint(n)
        self.commit(*stamps)
        return stamps

    def _visible_point(self) -> int:
        flying = [r["seq"] for r in self.rows if not r["visible"]]
        return min(flying) - 1 if flying else len(self.rows)

    def _command(self, doc: dict[str, Any]) -> dict[str, Any]:
        name = next(iter(doc))
        if name == "find" and doc.get("find") == "oplog.rs":
            with self._lock:
                self.log.append((name, time.monotonic(), doc))
            return self._find(doc)
        if name == "getMore" and doc.get("collection") == "oplog.rs":
            with self._lock:
                self.log.append((name, time.monotonic(), doc))
            return self._get_more(doc)
        if name == "killCursors":
            for cid in doc.get("cursors", []):
                self.cursors.pop(int(cid), None)
            return {"cursorsKilled": doc.get("cursors", []), "ok": 1.0}
        return super()._command(doc)

    def _find(self, doc: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            rows = [
                r for r in self.rows if r["visible"] and _matches(r["entry"]["ts"], doc.get("filter") or {})
            ]
            if (doc.get("sort") or {}).get("$natural", 1) < 0:
                rows.reverse()
            if doc.get("limit"):
                rows = rows[: abs(int(doc["limit"]))]
            entries = [r["entry"] for r in rows]
            if not doc.get("tailable"):
                return {"cursor": {"id": 0, "ns": "local.oplog.rs", "firstBatch": entries}, "ok": 1.0}
            self._cursor_ids += 1
            cid = self._cursor_ids
            size = int(doc.get("batchSize") or 101)  # as SecantusDB: 101 unless told
            self.cursors[cid] = {"remaining": entries[size:], "after": self._visible_point(),
                                 "filter": doc.get("filter") or {}, "size": size}  # fmt: skip
            return {"cursor": {"id": cid, "ns": "local.oplog.rs", "firstBatch": entries[:size]}, "ok": 1.0}

    def _get_more(self, doc: dict[str, Any]) -> dict[str, Any]:
        cid = int(doc["getMore"])
        deadline = time.monotonic() + int(doc.get("maxTimeMS", 1000)) / 1000
        with self._changed:
            cursor = self.cursors.get(cid)
            if cursor is None:
                return {
                    "ok": 0.0,
                    "errmsg": f"cursor id {cid} not found",
                    "code": 43,
                    "codeName": "CursorNotFound",
                }
            size = int(doc.get("batchSize") or cursor["size"])
            if cursor["remaining"]:
                batch, cursor["remaining"] = cursor["remaining"][:size], cursor["remaining"][size:]
            else:
                while True:
                    point = self._visible_point()
                    rows = [r for r in self.rows if cursor["after"] < r["seq"] <= point]
                    if rows or time.monotonic() >= deadline:
                        break
                    self._changed.wait(max(0.0, deadline - time.monotonic()))
                if rows:
                    cursor["after"] = rows[-1]["seq"]
                batch = [r["entry"] for r in rows if _matches(r["entry"]["ts"], cursor["filter"])]
        return {"cursor": {"id": cid, "ns": "local.oplog.rs", "nextBatch": batch}, "ok": 1.0}


def _matches(ts: Timestamp, spec: dict[str, Any]) -> bool:
    """The ``ts`` conditions an oplog reader sends ($gt, $gte, $lt, $lte, or equality)."""
    cond = spec.get("ts")
    if cond is None:
        return True
    if not isinstance(cond, dict):
        return bool(ts == cond)
    checks = {"$gt": ts.__gt__, "$gte": ts.__ge__, "$lt": ts.__lt__, "$lte": ts.__le__}
    return all(checks[op](value) for op, value in cond.items())
