"""An independent reader of mongodump output, for tests.

It shares no code with Lifeboat: its own CRC-64/XZ (bitwise table, from the
polynomial), its own archive walk, its own directory walk. Tests parse Lifeboat's
exports with it and the real fixtures with it, so the two readers check each other.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import bson
from bson import json_util
from bson.codec_options import CodecOptions

DECODE = CodecOptions(document_class=dict)  # int64 stays Int64, so documents re-encode to their bytes

_POLY_REFLECTED = 0xC96C5795D7870F42  # ECMA-182 0x42F0E1EBA9EA3693, bit-reversed
_MASK = (1 << 64) - 1


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc64_xz(data: bytes, crc: int = 0) -> int:
    """CRC-64/XZ (init and xorout all ones), chainable through ``crc``."""
    crc ^= _MASK
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK


@dataclass
class ParsedArchive:
    header: dict[str, Any]
    prelude: list[dict[str, Any]]
    documents: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)
    crcs_checked: int = 0
    blocks: int = 0


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "little")


def parse_archive(path: Path) -> ParsedArchive:
    """Parse a whole archive, asserting the format; every namespace's CRC is checked."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    assert data[:4] == bytes.fromhex("6de29981"), "magic"
    pos = 4

    def doc() -> tuple[bytes, dict[str, Any]]:
        nonlocal pos
        n = _u32(data, pos)
        raw = data[pos : pos + n]
        assert len(raw) == n and raw[-1] == 0, f"document at {pos}"
        pos += n
        return raw, bson.decode(raw, DECODE)

    def terminator() -> None:
        nonlocal pos
        assert data[pos : pos + 4] == b"\xff\xff\xff\xff", f"terminator at {pos}"
        pos += 4

    _, header = doc()
    prelude = []
    while _u32(data, pos) != 0xFFFFFFFF:
        prelude.append(doc()[1])
    terminator()
    out = ParsedArchive(header, prelude)
    crcs: dict[tuple[str, str], int] = {}
    ended: set[tuple[str, str]] = set()
    opened: set[tuple[str, str]] = set()
    while pos < len(data):
        _, block = doc()
        key = (block["db"], block["collection"])
        assert key not in ended, f"block after EOF for {key}"
        out.blocks += 1
        if block["EOF"]:
            # As mongorestore's demultiplexer: a namespace's end block closes a stream that an
            # opening block began (mongodump writes one even for an empty namespace).
            assert key in opened, f"an end block for {key} without an opening block"
            terminator()
            computed = crcs.get(key, 0)
            signed = computed - (1 << 64) if computed >= 1 << 63 else computed
            assert block["CRC"] == signed, f"CRC of {key}: archive {block['CRC']}, computed {signed}"
            assert isinstance(block["CRC"], bson.Int64), "CRC must be an int64"
            out.crcs_checked += 1
            ended.add(key)
            continue
        opened.add(key)
        while _u32(data, pos) != 0xFFFFFFFF:
            raw, _ = doc()
            crcs[key] = crc64_xz(raw, crcs.get(key, 0))
            out.documents.setdefault(key, []).append(raw)
        terminator()
    assert set(crcs) <= ended, f"namespaces without an EOF block: {set(crcs) - ended}"
    # As mongorestore: every namespace the header lists is seen whole (an opening block and an
    # end block), a view's too, or the restore fails "archive finished before all collections
    # were seen". A time-series collection's blocks are its buckets'. ``system.views`` is listed
    # by mongodump itself without blocks (MongoDB's own fixture), so it is not required.
    for ns in prelude:
        if ns["collection"] == "system.views" or (ns["db"], ns["collection"]) == ("", "oplog"):
            continue
        name = ("system.buckets." if ns.get("type") == "timeseries" else "") + ns["collection"]
        key = (ns["db"], name)
        assert key in opened and key in ended, f"{ns['db']}.{ns['collection']} is listed but never seen whole"
    return out


def read_file(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def split_documents(data: bytes) -> list[bytes]:
    docs, pos = [], 0
    while pos < len(data):
        n = _u32(data, pos)
        docs.append(data[pos : pos + n])
        pos += n
    assert pos == len(data)
    return docs


@dataclass
class DumpContent:
    """What a dump holds: documents and metadata by (db, collection), and the oplog."""

    documents: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)
    metadata: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    oplog: list[dict[str, Any]] = field(default_factory=list)


def read_dump(path: Path, db: str = "test") -> DumpContent:
    """A directory dump, an archive, or one collection's .bson file (into ``db``), as plain data."""
    out = DumpContent()
    if path.name.endswith(".bson"):
        coll = path.name.removesuffix(".bson")
        meta = path.with_name(coll + ".metadata.json")
        out.metadata[(db, coll)] = json_util.loads(meta.read_text()) if meta.exists() else {}
        out.documents[(db, coll)] = split_documents(read_file(path))
        return out
    if path.is_file():
        parsed = parse_archive(path)
        for ns in parsed.prelude:
            if ns["collection"] != "oplog" or ns["db"]:
                out.metadata[(ns["db"], ns["collection"])] = json_util.loads(ns["metadata"])
        for key, docs in parsed.documents.items():
            if key == ("", "oplog"):
                out.oplog = [bson.decode(d, DECODE) for d in docs]
            else:
                out.documents[key] = docs
        return out
    for dbdir in sorted(p for p in path.iterdir() if p.is_dir()):
        for f in sorted(dbdir.iterdir()):
            name = f.name.removesuffix(".gz")
            if name.endswith(".metadata.json"):
                meta = json_util.loads(read_file(f).decode())
                coll = meta.get("collectionName") or unquote(name.removesuffix(".metadata.json"))
                out.metadata[(dbdir.name, coll)] = meta
        for f in sorted(dbdir.iterdir()):
            name = f.name.removesuffix(".gz")
            if name.endswith(".bson"):
                stem = name.removesuffix(".bson")
                coll = next(
                    (c for (d, c) in out.metadata if d == dbdir.name and _stem_matches(stem, c)),
                    unquote(stem),
                )
                out.documents[(dbdir.name, coll)] = split_documents(read_file(f))
    oplog = path / "oplog.bson"
    if oplog.exists():
        out.oplog = [bson.decode(d, DECODE) for d in split_documents(read_file(oplog))]
    return out


def _stem_matches(stem: str, name: str) -> bool:
    """A file stem belongs to a collection when it is its escaped name, or its cut form."""
    return unquote(stem) == name or (len(stem) == 238 and name.startswith(unquote(stem[:208])))
