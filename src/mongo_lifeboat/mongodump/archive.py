"""The mongodump ``--archive`` format (DESIGN §5), read strictly and written exactly.

Layout (little-endian): magic ``6D E2 99 81``; a header document; one document per
namespace, then a terminator ``FF FF FF FF``; then the body: blocks of
``{db, collection, EOF: false, CRC: 0}`` + documents + terminator, namespaces
interleaved; each namespace closes with ``{db, collection, EOF: true, CRC: <int64>}`` +
terminator, where CRC is CRC-64/XZ of all of that namespace's document bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import bson
import fastcrc
from bson import Int64
from bson.errors import InvalidBSON

from ..errors import DumpInvalid
from ..mongo.catalog import BUCKETS

MAGIC = b"\x6d\xe2\x99\x81"
TERMINATOR = b"\xff\xff\xff\xff"
_TERMINATOR_VALUE = 0xFFFFFFFF
VERSION = "0.1"
OPLOG = ("", "oplog")
MAX_DOCUMENT_BYTES = 48 << 20  # a BSON document is at most 16 MiB (+ slack for oplog entries)
_READ = 1 << 20


def crc64(data: bytes | memoryview, crc: int | None = None) -> int:
    """CRC-64/XZ, chained: ``crc64(b, crc64(a)) == crc64(a + b)``."""
    return int(fastcrc.crc64.xz(data, initial=crc)) if crc is not None else int(fastcrc.crc64.xz(data))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True)
class ArchiveNamespace:
    db: str
    collection: str
    metadata: str  # the metadata.json text ("" for the oplog)
    type: str | None = None  # collection | view | timeseries | "" (oplog); None in old archives

    @property
    def key(self) -> tuple[str, str]:
        return (self.db, self.collection)

    @property
    def ns(self) -> str:
        return "oplog" if self.key == OPLOG else f"{self.db}.{self.collection}"


class _Input:
    """Buffered reads that know their byte offset and turn every failure into DumpInvalid."""

    def __init__(self, stream: BinaryIO, where: str) -> None:
        self._stream = stream
        self.where = where
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0  # absolute offset of the next unread byte

    def _fill(self, n: int) -> bool:
        while len(self._buf) - self._pos < n:
            try:
                chunk = self._stream.read(max(_READ, n))
            except (OSError, EOFError, zlib.error) as e:
                raise DumpInvalid(f"{self.where}: cannot read the archive at byte {self.offset}: {e}") from e
            if not chunk:
                return False
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            self._buf += chunk
        return True

    def fail(self, what: str) -> DumpInvalid:
        return DumpInvalid(f"{self.where}: {what} at byte {self.offset}")

    def head(self, n: int) -> bytes:
        """Up to ``n`` first bytes (fewer when the input is shorter), consumed."""
        self._fill(n)
        return self.take(min(n, len(self._buf) - self._pos), "the start")

    def at_end(self) -> bool:
        return not self._fill(1)

    def take(self, n: int, what: str) -> bytes:
        if not self._fill(n):
            raise self.fail(f"truncated: the archive ends inside {what}")
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        self.offset += n
        return out

    def peek_length(self, what: str) -> int:
        if not self._fill(4):
            raise self.fail(f"truncated: the archive ends before {what}")
        return int.from_bytes(self._buf[self._pos : self._pos + 4], "little")

    def document(self, what: str) -> bytes:
        """One raw BSON document (framing checked; content is the caller's to decode)."""
        n = self.peek_length(what)
        if n < 5 or n > MAX_DOCUMENT_BYTES:
            raise self.fail(f"{what} has an impossible length ({n})")
        raw = self.take(n, what)
        if raw[-1] != 0:
            raise DumpInvalid(f"{self.where}: {what} is not terminated at byte {self.offset - 1}")
        return raw

    def block(self, what: str, batch_bytes: int = 4 << 20) -> Iterator[list[bytes]]:
        """The documents up to (and the) terminator, in lists of about ``batch_bytes`` (a block
        may be of any size). The hot loop of a read: it walks the buffer directly."""
        docs: list[bytes] = []
        size = 0
        while True:
            if not self._fill(4):
                raise self.fail(f"truncated: the archive ends inside {what}")
            buf, pos, end = self._buf, self._pos, len(self._buf)
            need = 4
            while end - pos >= 4:
                n = int.from_bytes(buf[pos : pos + 4], "little")
                if n == _TERMINATOR_VALUE:
                    self.offset += pos + 4 - self._pos
                    self._pos = pos + 4
                    if docs:
                        yield docs
                    return
                if n < 5 or n > MAX_DOCUMENT_BYTES:
                    self.offset += pos - self._pos
                    self._pos = pos
                    raise self.fail(f"a document of {what} has an impossible length ({n})")
                if end - pos < n:
                    need = n
                    break
                if buf[pos + n - 1] != 0:
                    at = self.offset + pos + n - 1 - self._pos
                    raise DumpInvalid(f"{self.where}: a document of {what} is not terminated at byte {at}")
                docs.append(bytes(buf[pos : pos + n]))
                size += n
                pos += n
            self.offset += pos - self._pos
            self._pos = pos
            if size >= batch_bytes:
                yield docs
                docs, size = [], 0
            if not self._fill(need):
                raise self.fail(f"truncated: the archive ends inside {what}")

    def decoded(self, what: str) -> dict[str, Any]:
        start = self.offset
        raw = self.document(what)
        try:
            return bson.decode(raw)
        except (InvalidBSON, ValueError) as e:
            raise DumpInvalid(f"{self.where}: {what} at byte {start} is not valid BSON ({e})") from e

    def terminator(self, what: str) -> None:
        if self.peek_length(what) != _TERMINATOR_VALUE:
            raise self.fail(f"expected the terminator FF FF FF FF after {what}")
        self.take(4, "a terminator")


def _require(doc: dict[str, Any], fields: dict[str, type | tuple[type, ...]], what: str, inp: _Input) -> None:
    for name, kind in fields.items():
        if not isinstance(doc.get(name), kind):
            raise inp.fail(f"{what} has no valid {name!r} field (got {doc.get(name)!r})")


class ArchiveReader:
    """Parse an archive stream: ``header`` and ``namespaces`` on construction, then
    :meth:`blocks` yields the documents. Every CRC is checked; any deviation from the
    format raises DumpInvalid naming what and the byte offset."""

    def __init__(self, stream: BinaryIO, where: str) -> None:
        self._in = _Input(stream, where)
        self.where = where
        magic = self._in.head(4)
        if magic != MAGIC:
            raise DumpInvalid(
                f"{where}: not a mongodump archive (starts with {magic.hex(' ') if len(magic) == 4 else 'fewer than 4 bytes'}, expected 6d e2 99 81)"
            )
        self.header = self._in.decoded("the archive header")
        _require(self.header, {"version": str}, "the archive header", self._in)
        if self.header["version"] != VERSION:
            raise DumpInvalid(
                f"{where}: archive format version {self.header['version']!r} is not supported (expected {VERSION})"
            )
        self.namespaces: list[ArchiveNamespace] = []
        seen: set[tuple[str, str]] = set()
        while self._in.peek_length("the namespace list") != _TERMINATOR_VALUE:
            doc = self._in.decoded("a namespace header (or the terminator FF FF FF FF ending the list)")
            _require(doc, {"db": str, "collection": str, "metadata": str}, "a namespace header", self._in)
            ns = ArchiveNamespace(doc["db"], doc["collection"], doc["metadata"], doc.get("type"))
            if ns.key in seen:
                raise self._in.fail(f"namespace {ns.ns} is listed twice")
            seen.add(ns.key)
            self.namespaces.append(ns)
        self._in.terminator("the namespace list")
        self.completed: set[tuple[str, str]] = set()

    @property
    def server_version(self) -> str:
        return str(self.header.get("server_version", "") or "unknown")

    @property
    def tool_version(self) -> str:
        return str(self.header.get("tool_version", "") or "")

    def _body_namespaces(self) -> set[tuple[str, str]]:
        known = {ns.key for ns in self.namespaces}
        # Time-series data travels under the buckets namespace, which has no header of its own.
        known |= {(ns.db, BUCKETS + ns.collection) for ns in self.namespaces if ns.type == "timeseries"}
        return known

    def blocks(self) -> Iterator[tuple[tuple[str, str], list[bytes]]]:
        """((db, collection), documents) per body block, in archive order."""
        inp = self._in
        known = self._body_namespaces()
        crcs: dict[tuple[str, str], int] = {}
        while not inp.at_end():
            header = inp.decoded("a block header")
            _require(
                header,
                {"db": str, "collection": str, "EOF": bool, "CRC": int},
                "a block header",
                inp,
            )
            key = (header["db"], header["collection"])
            name = "oplog" if key == OPLOG else f"{key[0]}.{key[1]}"
            if key not in known:
                raise inp.fail(f"a block for {name}, which is not in the archive's namespace list")
            if key in self.completed:
                raise inp.fail(f"a block for {name} after its end (EOF) block")
            if header["EOF"]:
                inp.terminator(f"the end block of {name}")
                expected = int(header["CRC"])
                actual = _signed(crcs.get(key, 0))
                if actual != expected:
                    raise DumpInvalid(
                        f"{self.where}: CRC-64 mismatch for {name}: the archive says "
                        f"{expected & 0xFFFFFFFFFFFFFFFF:#018x}, its documents give "
                        f"{actual & 0xFFFFFFFFFFFFFFFF:#018x} (the data is corrupt)"
                    )
                self.completed.add(key)
                continue
            for docs in inp.block(f"a block of {name}"):
                crc = crcs.get(key)
                for raw in docs:
                    crc = crc64(raw, crc)
                crcs[key] = crc  # type: ignore[assignment]
                yield key, docs
        unfinished = sorted(set(crcs) - self.completed)
        if unfinished:
            names = ", ".join("oplog" if k == OPLOG else f"{k[0]}.{k[1]}" for k in unfinished)
            raise DumpInvalid(f"{self.where}: truncated: the archive ends before the end block of {names}")


class ArchiveWriter:
    """Write an archive: header and namespace list first, then each namespace's blocks."""

    def __init__(
        self,
        out: BinaryIO,
        namespaces: list[ArchiveNamespace],
        server_version: str,
        tool_version: str,
        block_bytes: int = 16 << 20,
    ) -> None:
        self._out = out
        self._block_bytes = block_bytes
        self._crcs: dict[tuple[str, str], int] = {}
        out.write(MAGIC)
        out.write(
            bson.encode(
                {
                    # Namespaces are written one after another, so one at a time is restorable.
                    "concurrent_collections": 1,
                    "version": VERSION,
                    "server_version": server_version,
                    "tool_version": tool_version,
                }
            )
        )
        for ns in namespaces:
            doc: dict[str, Any] = {
                "db": ns.db,
                "collection": ns.collection,
                "metadata": ns.metadata,
                "size": 0,
            }
            if ns.type is not None:
                doc["type"] = ns.type
            out.write(bson.encode(doc))
        out.write(TERMINATOR)

    def _header(self, key: tuple[str, str], eof: bool, crc: int) -> bytes:
        return bson.encode({"db": key[0], "collection": key[1], "EOF": eof, "CRC": Int64(crc)})

    def write(self, key: tuple[str, str], documents: list[bytes]) -> None:
        """Raw BSON documents of one namespace, as blocks of about ``block_bytes``."""
        block: list[bytes] = []
        size = 0
        for doc in documents:
            block.append(doc)
            size += len(doc)
            if size >= self._block_bytes:
                self._block(key, b"".join(block))
                block, size = [], 0
        if block:
            self._block(key, b"".join(block))

    def _block(self, key: tuple[str, str], data: bytes) -> None:
        self._crcs[key] = crc64(data, self._crcs.get(key))
        self._out.write(self._header(key, False, 0))
        self._out.write(data)
        self._out.write(TERMINATOR)

    def end(self, key: tuple[str, str]) -> None:
        if key not in self._crcs:
            # mongodump opens every namespace with a block before its end block, even an empty
            # one; mongorestore's demultiplexer fails on a lone end block ("archive io error").
            self._block(key, b"")
        self._out.write(self._header(key, True, _signed(self._crcs.get(key, 0))))
        self._out.write(TERMINATOR)
