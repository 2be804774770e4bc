"""Open what mongodump wrote — a directory, an archive, or one ``.bson`` file — as one
shape: the namespaces it holds (with their metadata) and a stream of document batches.

Where each dumped namespace goes is decided in one place (:func:`_place`): users and
roles (also the per-database ``$admin.system.*`` files) become ``admin.system.users`` /
``admin.system.roles``; the server's own collections are skipped, and said so.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import bson
from bson.errors import InvalidBSON

from ..errors import DumpInvalid, UsageError
from ..mongo.catalog import AUTH_COLLECTIONS, BUCKETS
from ..remedies import Remedy
from ..repo.objects import iter_bson
from .archive import OPLOG, ArchiveReader
from .metadata import DumpMetadata, fix_index, parse_metadata
from .names import collection_name_problem, db_name_problem, is_shortened, unescape_collection

Key = tuple[str, str]
_GZIP_MAGIC = b"\x1f\x8b"
_PRELUDE = ("prelude.json", "prelude.json.gz")
_SUFFIXES = (
    (".metadata.json.gz", "meta"),
    (".metadata.json", "meta"),
    (".bson.gz", "bson"),
    (".bson", "bson"),
)


@dataclass
class Namespace:
    db: str
    name: str
    meta: DumpMetadata
    where: str  # the file or archive entry it was read from, for messages

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"


@dataclass(frozen=True)
class Batch:
    key: Key  # where the documents go; OPLOG for oplog entries
    documents: list[bytes]
    where: str
    users_of: str | None = None  # from a $admin.system.* file of this database: only its users


@dataclass
class Dump:
    kind: str  # mongodump-dir | mongodump-archive | mongodump-bson
    path: str
    gzip: bool = False
    server_version: str = "unknown"
    tool_version: str = ""
    dump_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    has_oplog: bool = False
    namespaces: dict[Key, Namespace] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _batches: Iterator[Batch] | None = None

    def batches(self) -> Iterator[Batch]:
        """Every document batch, once (an archive is a single pass)."""
        if self._batches is None:
            raise RuntimeError("the dump's documents were already read")
        batches, self._batches = self._batches, None
        return batches

    def add(self, db: str, name: str, meta: DumpMetadata, where: str) -> Key | None:
        """Record a dumped namespace; None (and a note) when it is not imported."""
        problem = db_name_problem(db) or collection_name_problem(name)
        if problem:
            raise DumpInvalid(f"{where}: {problem}")
        place = _place(db, name)
        if isinstance(place, str):
            self.skipped.append(f"{db}.{name}: {place}")
            return None
        self.warnings.extend(meta.conversions)
        if place not in self.namespaces:
            self.namespaces[place] = Namespace(place[0], place[1], meta, where)
        return place

    def check(self) -> None:
        """Time-series data needs its collection (whose options create the buckets)."""
        for db, name in self.namespaces:
            if name.startswith(BUCKETS):
                parent = self.namespaces.get((db, name[len(BUCKETS) :]))
                if parent is None or parent.meta.type != "timeseries":
                    raise DumpInvalid(
                        f"{self.namespaces[(db, name)].where}: time-series buckets without their "
                        f"collection {db}.{name[len(BUCKETS) :]} (its metadata is missing)"
                    )


def _place(db: str, name: str) -> Key | str:
    """Where a dumped namespace goes in the backup: a key, or why it is not imported."""
    if db in ("local", "config"):
        return f"the {db} database is the server's own"
    if name.startswith("$admin."):
        rest = name[len("$admin.") :]
        if db == "admin":
            return "a $admin.* file inside admin/ is not something mongodump writes"
        return ("admin", rest) if rest in AUTH_COLLECTIONS else "server state (not restorable)"
    if name.startswith("system."):
        if name.startswith(BUCKETS) or name == "system.js" or (db == "admin" and name in AUTH_COLLECTIONS):
            return (db, name)
        return "a system collection (server state; views come from their metadata)"
    return (db, name)


def _users_of(db: str, name: str) -> str | None:
    return db if name.startswith("$admin.") else None


# -- plain files -------------------------------------------------------------------


def _open_file(path: Path) -> tuple[BinaryIO, bool]:
    """A file's content stream and whether it was gzip (told by its first bytes, not its name)."""
    f = path.open("rb")
    if f.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=f, mode="rb"), True  # type: ignore[return-value]
    return f, False


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_text(path: Path, where: str) -> tuple[str, bool]:
    stream, gz = _open_file(path)
    try:
        with stream:
            return stream.read().decode("utf-8"), gz
    except (OSError, EOFError, zlib.error) as e:
        raise DumpInvalid(f"{where}: cannot read it: {e}") from e
    except UnicodeDecodeError as e:
        raise DumpInvalid(f"{where}: not UTF-8 text ({e})") from e


def _file_batches(path: Path, where: str) -> Iterator[list[bytes]]:
    stream, _ = _open_file(path)
    with stream:
        try:
            yield from iter_bson(stream, where, error=DumpInvalid)
        except (OSError, EOFError, zlib.error) as e:
            raise DumpInvalid(f"{where}: cannot decompress it: {e}") from e


def _read_prelude(dump: Dump, path: Path, where: str) -> None:
    text, gz = _read_text(path, where)
    try:
        prelude = json.loads(text)
    except ValueError as e:
        raise DumpInvalid(f"{where}: not valid JSON ({e})") from e
    if not isinstance(prelude, dict):
        raise DumpInvalid(f"{where}: not a JSON object")
    dump.server_version = str(prelude.get("ServerVersion") or "unknown")
    dump.tool_version = str(prelude.get("ToolVersion") or "")
    dump.gzip |= gz


# -- directories -------------------------------------------------------------------


def _stem_groups(dbdir: Path, rel: str, dump: Dump) -> dict[str, dict[str, Path]]:
    groups: dict[str, dict[str, Path]] = {}
    for f in sorted(dbdir.iterdir()):
        if f.is_dir():
            dump.skipped.append(f"{rel}{f.name}/: a directory inside a database directory")
            continue
        if f.name in _PRELUDE:
            if dump.server_version == "unknown":
                _read_prelude(dump, f, rel + f.name)
            continue
        for suffix, kind in _SUFFIXES:
            if f.name.endswith(suffix):
                groups.setdefault(f.name[: -len(suffix)], {})[kind] = f
                dump.gzip |= suffix.endswith(".gz")
                break
        else:
            dump.skipped.append(f"{rel}{f.name}: not a mongodump file")
    return groups


def _legacy_indexes(path: Path, db: str, where: str) -> dict[str, list[dict[str, Any]]]:
    """``system.indexes.bson`` (dumps of MongoDB < 3.0): index specs by collection."""
    by_coll: dict[str, list[dict[str, Any]]] = {}
    for batch in _file_batches(path, where):
        for raw in batch:
            spec = _decode(raw, where)
            ns = str(spec.get("ns", ""))
            if ns.startswith(db + "."):
                by_coll.setdefault(ns[len(db) + 1 :], []).append(spec)
    return by_coll


def _decode(raw: bytes, where: str) -> dict[str, Any]:
    try:
        return bson.decode(raw)
    except (InvalidBSON, ValueError) as e:
        raise DumpInvalid(f"{where}: a document is not valid BSON ({e})") from e


def _read_db_dir(dump: Dump, db: str, dbdir: Path, rel: str) -> list[tuple[Key, Path, str, str | None]]:
    """Namespaces of one database directory; returns its data files (key, path, where, users_of)."""
    data: list[tuple[Key, Path, str, str | None]] = []
    groups = _stem_groups(dbdir, rel, dump)
    legacy = groups.pop("system.indexes", {}).get("bson")
    for stem, files in groups.items():
        where = rel + (files.get("meta") or files["bson"]).name
        meta = parse_metadata(_read_text(files["meta"], where)[0], where) if "meta" in files else None
        if meta is not None and meta.name:
            name = meta.name
        elif is_shortened(stem):
            raise DumpInvalid(
                f"{where}: the file name was shortened (over 238 bytes) and there is no "
                "metadata.json with the collection's real name (collectionName)"
            )
        else:
            try:
                name = unescape_collection(stem)
            except UnicodeDecodeError as e:
                raise DumpInvalid(f"{where}: the escaped name is not UTF-8 ({e})") from e
        key = dump.add(db, name, meta or DumpMetadata(None, "collection"), where)
        if key is None or "bson" not in files:
            continue
        if dump.namespaces[key].meta.type == "view":
            if files["bson"].stat().st_size:
                dump.warnings.append(f"{rel}{files['bson'].name}: documents of a view are ignored")
            continue
        data.append((key, files["bson"], rel + files["bson"].name, _users_of(db, name)))
    if legacy is not None:
        where = rel + legacy.name
        for coll, specs in _legacy_indexes(legacy, db, where).items():
            target = dump.namespaces.get((db, coll))
            if target is not None:
                known = {ix["name"] for ix in target.meta.indexes}
                fixed = [fix_index(spec, where, dump.warnings) for spec in specs]
                target.meta.indexes.extend(ix for ix in fixed if ix["name"] not in known)
    return data


def _open_directory(root: Path, db: str | None) -> Dump:
    dump = Dump("mongodump-dir", str(root))
    data: list[tuple[Key, Path, str, str | None]] = []
    oplog: Path | None = None
    if db is not None:
        data += _read_db_dir(dump, db, root, "")
    else:
        loose = []
        for p in sorted(root.iterdir()):
            if p.is_dir():
                data += _read_db_dir(dump, p.name, p, p.name + "/")
            elif p.name == "oplog.bson":
                oplog = p
            elif p.name in _PRELUDE:
                _read_prelude(dump, p, p.name)
            else:
                loose.append(p.name)
                dump.skipped.append(f"{p.name}: not inside a database directory")
        if not dump.namespaces and oplog is None:
            what = f"{root}: no database directories and no oplog.bson: not a mongodump directory"
            if any(n.endswith((".bson", ".bson.gz")) for n in loose):
                raise DumpInvalid(
                    what,
                    "it holds .bson files directly: if it is one database's directory, {do}",
                    Remedy("name-db"),
                )
            raise DumpInvalid(
                what, "point at the directory mongodump --out wrote (it holds one directory per database)"
            )
    dump.check()
    files = [p for _, p, _, _ in data] + ([oplog] if oplog else [])
    dump.dump_time = max(
        (datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files),
        default=datetime.now(UTC),
    )
    if oplog is not None:
        dump.has_oplog = True
        dump.gzip |= _is_gzip(oplog)

    def batches() -> Iterator[Batch]:
        for key, path, where, users_of in data:
            for docs in _file_batches(path, where):
                yield Batch(key, docs, where, users_of)
        if oplog is not None:
            for docs in _file_batches(oplog, "oplog.bson"):
                yield Batch(OPLOG, docs, "oplog.bson")

    dump._batches = batches()
    return dump


def _open_bson_file(path: Path, db: str | None, collection: str | None) -> Dump:
    if not db:
        raise UsageError(
            f"{path.name} is a single collection's file: say which database it goes to",
            remedy=Remedy("name-db-collection"),
        )
    dump = Dump("mongodump-bson", str(path))
    stem = path.name.removesuffix(".gz").removesuffix(".bson")
    meta_path = next(
        (
            m
            for m in (path.with_name(stem + s) for s in (".metadata.json", ".metadata.json.gz"))
            if m.exists()
        ),
        None,
    )
    meta = parse_metadata(_read_text(meta_path, meta_path.name)[0], meta_path.name) if meta_path else None
    name = collection or (meta.name if meta and meta.name else unescape_collection(stem))
    key = dump.add(db, name, meta or DumpMetadata(None, "collection"), path.name)
    dump.gzip = _is_gzip(path)
    dump.dump_time = datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def batches() -> Iterator[Batch]:
        if key is not None:
            for docs in _file_batches(path, path.name):
                yield Batch(key, docs, path.name)

    dump._batches = batches()
    return dump


# -- archives -------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: what was read to sniff a pipe, given back."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _sniff(raw: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first two bytes (a pipe may deliver one at a time) and a stream that still has them."""
    head = b""
    while len(head) < 2 and (more := raw.read(2 - len(head))):
        head += more
    return head, io.BufferedReader(_Prefixed(head, raw), 1 << 20)


def _open_archive(path: str) -> Dump:
    if path == "-":
        raw: io.BufferedReader = sys.stdin.buffer  # type: ignore[assignment]
        where, when = "standard input", datetime.now(UTC)
    else:
        raw = Path(path).open("rb")  # noqa: SIM115 (closed when the batches are read)
        where, when = Path(path).name, datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
    head, sniffed = _sniff(raw)
    gz = head == _GZIP_MAGIC
    stream: BinaryIO = gzip.GzipFile(fileobj=sniffed, mode="rb") if gz else sniffed  # type: ignore[assignment]
    reader = ArchiveReader(stream, where)
    dump = Dump("mongodump-archive", path, gz, reader.server_version, reader.tool_version, when)
    targets: dict[Key, tuple[Key, str | None]] = {}
    collections: list[Key] = []
    for ns in reader.namespaces:
        if ns.key == OPLOG:
            dump.has_oplog = True
            targets[OPLOG] = (OPLOG, None)
            continue
        meta = parse_metadata(ns.metadata, f"{where} (metadata of {ns.ns})")
        if ns.type and ns.type != meta.type:
            raise DumpInvalid(
                f"{where}: {ns.ns} is a {ns.type} in the namespace list but a {meta.type} in its metadata"
            )
        key = dump.add(ns.db, ns.collection, meta, f"{where} ({ns.ns})")
        if meta.type == "collection":
            collections.append(ns.key)
        if key is not None:
            targets[ns.key] = (key, _users_of(ns.db, ns.collection))
            if meta.type == "timeseries":
                buckets = (ns.db, BUCKETS + ns.collection)
                dump.add(ns.db, buckets[1], DumpMetadata(None, "collection"), f"{where} ({ns.ns})")
                targets[buckets] = (buckets, None)
    dump.check()

    def batches() -> Iterator[Batch]:
        try:
            for key, docs in reader.blocks():
                target = targets.get(key)
                if target is not None:  # documents of skipped namespaces are read, checked, dropped
                    yield Batch(target[0], docs, f"{where} ({key[0]}.{key[1]})", target[1])
            missing = [f"{db}.{c}" for db, c in collections if (db, c) not in reader.completed]
            if missing:
                raise DumpInvalid(f"{where}: truncated: no data and no end block for {', '.join(missing)}")
        finally:
            if raw is not sys.stdin.buffer:
                raw.close()

    dump._batches = batches()
    return dump


def open_dump(path: str, db: str | None = None, collection: str | None = None) -> Dump:
    """Open ``path`` (``-``: an archive on standard input). Metadata is read and checked
    now; documents are read by :meth:`Dump.batches`."""
    if path == "-":
        return _open_archive(path)
    p = Path(path)
    if not p.exists():
        raise UsageError(
            f"{path}: no such file or directory",
            "give a mongodump output directory, an archive (plain or gzip), a .bson file, or - for stdin",
        )
    if p.is_dir():
        return _open_directory(p, db)
    if p.name.endswith((".bson", ".bson.gz")):
        return _open_bson_file(p, db, collection)
    if db or collection:
        raise UsageError(
            "a database or collection name applies only to a directory of one database or a .bson file"
        )
    return _open_archive(path)
