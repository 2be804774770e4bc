"""A wire-level proxy in front of a real SecantusDB that refuses what mongod refuses a user
holding only Lifeboat's change-stream role, for what SecantusDB cannot show itself: its
wildcard resource ``{db: "", collection: ""}`` also grants reads on ``local`` (mongod's
cluster-wide change stream needs that very grant), and it does not check the cluster actions
of ``replSetGetStatus`` and ``getParameter``.

Every command passes through to the real server, except that a command on the ``local``
database, or one of ``REFUSED_COMMANDS``, is answered as mongod answers it (Unauthorized, code
13). The proxy listens on a port of the server's port's length, so rewriting the server's
address to its own in ``hello`` (members are reached by the hosts ``hello`` lists) keeps every
BSON length as it is. Each refusal is logged.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any

import bson

OP_MSG = 2013
REFUSED_COMMANDS = frozenset({"replSetGetStatus", "replSetGetConfig", "getParameter"})


def _listener(digits: int) -> socket.socket:
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        if len(str(s.getsockname()[1])) == digits:
            return s
        s.close()
    raise RuntimeError(f"no free port of {digits} digits")


def _read(conn: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = conn.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _message(conn: socket.socket) -> tuple[bytes, int, int, bytes] | None:
    header = _read(conn, 16)
    if header is None:
        return None
    length, request_id, _, opcode = struct.unpack("<iiii", header)
    body = _read(conn, length - 16)
    return None if body is None else (header, request_id, opcode, body)


class PrivilegeProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._server = _listener(len(str(upstream_port)))
        self.port = int(self._server.getsockname()[1])
        self._rewrite = (f"127.0.0.1:{upstream_port}".encode(), f"127.0.0.1:{self.port}".encode())
        self.refused: list[str] = []  # "db.command", in order
        self._lock = threading.Lock()
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self, user: str, password: str) -> str:
        return f"mongodb://{user}:{password}@127.0.0.1:{self.port}/?replicaSet=rs0&authSource=admin"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        with client, upstream:
            while (message := _message(client)) is not None:
                header, request_id, opcode, body = message
                refusal = self._refusal(body) if opcode == OP_MSG else None
                if refusal is None:
                    upstream.sendall(header + body)
                    continue
                payload = struct.pack("<I", 0) + b"\x00" + bson.encode(refusal)
                client.sendall(struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_MSG) + payload)

    def _replies(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while (message := _message(upstream)) is not None:
                header, _, _, body = message
                client.sendall(header + body.replace(*self._rewrite))

    def _refusal(self, body: bytes) -> dict[str, Any] | None:
        if body[4] != 0:  # the command is in a kind-0 section first
            return None
        size = struct.unpack("<i", body[5:9])[0]
        doc = bson.decode(body[5 : 5 + size])
        name, db = next(iter(doc)), doc.get("$db")
        if db != "local" and name not in REFUSED_COMMANDS:
            return None
        with self._lock:
            self.refused.append(f"{db}.{name}")
        return {
            "ok": 0.0,
            "code": 13,
            "codeName": "Unauthorized",
            "errmsg": f"not authorized on {db} to execute command {{ {name}: ... }}",
        }
