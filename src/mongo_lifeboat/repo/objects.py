"""Compressed, checksummed objects: how every byte goes into and out of a repository.

Writing: bytes -> zstd -> (sha256, size counted) -> a spool file -> ``storage.put``.
Memory stays bounded by the spool threshold, whatever the object's size.
Reading: ``storage.get`` -> spool while hashing -> the size and sha256 are checked
against the manifest BEFORE a single decompressed byte is handed out.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO

import zstandard

from ..errors import IntegrityError, LifeboatError
from ..faults import crash_point
from .manifest import FileEntry
from .mirror import reading_from
from .storage import ObjectMissing, Storage

_SPOOL_IN_MEMORY = 8 << 20
_COPY = 1 << 20


class _HashingSink:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


class ObjectWriter:
    """Compress a stream of bytes into one repository object.

    ``raw_bytes`` and ``documents`` count what went in; ``commit`` puts the object
    and returns its :class:`FileEntry` (key, stored size, sha256).
    """

    def __init__(self, storage: Storage, key: str, level: int = 3) -> None:
        self.storage = storage
        self.key = key
        self.raw_bytes = 0
        self.documents = 0
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self._sink = _HashingSink(self._spool)
        self._zstd = zstandard.ZstdCompressor(level=level).stream_writer(
            self._sink,  # type: ignore[arg-type]
            closefd=False,
            write_return_read=True,
        )

    def write(self, data: bytes | memoryview, documents: int = 0) -> None:
        self._zstd.write(data)
        self.raw_bytes += len(data)
        self.documents += documents

    def commit(
        self, meta: dict[str, str] | None = None, name: Callable[[str, int], str] | None = None
    ) -> FileEntry:
        """Put the object. With ``meta``, its sha256 and size are added to the metadata
        (objects that have no manifest, like oplog segments, carry their own checksum).
        ``name(sha256, size)``: the key, when it is made from the object's own facts."""
        self._zstd.flush(zstandard.FLUSH_FRAME)
        self._zstd.close()
        self._spool.seek(0)
        if name is not None:
            self.key = name(self._sink.sha.hexdigest(), self._sink.size)
        if meta is not None:
            meta = {**meta, "sha256": self._sink.sha.hexdigest(), "size": str(self._sink.size)}
        try:
            self.storage.put(self.key, self._spool, meta)  # type: ignore[arg-type]
        finally:
            self._spool.close()
        crash_point("object-committed")
        return FileEntry(
            key=self.key,
            size=self._sink.size,
            sha256=self._sink.sha.hexdigest(),
            documents=self.documents,
            raw_bytes=self.raw_bytes,
        )

    def abandon(self) -> None:
        self._spool.close()


class ChunkedWriter:
    """One collection's data files: a new object whenever ``chunk_bytes`` (uncompressed)
    were written, cut only between writes (so never inside a document)."""

    def __init__(self, storage: Storage, key_of: Callable[[int], str], chunk_bytes: int) -> None:
        self.storage = storage
        self.key_of = key_of
        self.chunk_bytes = chunk_bytes
        self.files: list[FileEntry] = []
        self._writer: ObjectWriter | None = None

    def write(self, data: bytes | memoryview, documents: int) -> None:
        if self._writer is None:
            self._writer = ObjectWriter(self.storage, self.key_of(len(self.files)))
        self._writer.write(data, documents)
        if self._writer.raw_bytes >= self.chunk_bytes:
            self.files.append(self._writer.commit())
            self._writer = None

    def finish(self) -> list[FileEntry]:
        if self._writer is not None:
            self.files.append(self._writer.commit())
            self._writer = None
        return self.files

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.abandon()
            self._writer = None


def put_object(storage: Storage, key: str, data: bytes, documents: int = 0) -> FileEntry:
    writer = ObjectWriter(storage, key)
    writer.write(data, documents)
    return writer.commit()


def fetch_verified(storage: Storage, entry: FileEntry) -> BinaryIO:
    """The stored (compressed) bytes of ``entry``, after size and sha256 both match; from
    several repositories, from the first whose copy does."""
    return reading_from(storage, entry.key, lambda s: _fetch_checked(s, entry))


def _fetch_checked(storage: Storage, entry: FileEntry) -> BinaryIO:
    try:
        src = storage.get(entry.key)
    except ObjectMissing as e:
        raise IntegrityError(f"object is missing: {entry.key}") from e
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    sha = hashlib.sha256()
    size = 0
    with src:
        while chunk := src.read(_COPY):
            sha.update(chunk)
            size += len(chunk)
            spool.write(chunk)
    if size != entry.size:
        spool.close()
        raise IntegrityError(
            f"object is truncated or resized: {entry.key} ({size} bytes, manifest says {entry.size})"
        )
    if sha.hexdigest() != entry.sha256:
        spool.close()
        raise IntegrityError(f"checksum mismatch: {entry.key} (sha256 differs from the manifest)")
    spool.seek(0)
    return spool  # type: ignore[return-value]


def open_verified(storage: Storage, entry: FileEntry) -> BinaryIO:
    """A stream of the decompressed content of ``entry`` (checksum checked first)."""
    stored = fetch_verified(storage, entry)
    return zstandard.ZstdDecompressor().stream_reader(stored, closefd=True)


def read_verified(storage: Storage, entry: FileEntry) -> bytes:
    with open_verified(storage, entry) as f:
        try:
            return f.read()
        except zstandard.ZstdError as e:
            raise IntegrityError(f"cannot decompress {entry.key}: {e}") from e


def iter_bson(
    stream: BinaryIO,
    key: str,
    batch_bytes: int = 4 << 20,
    error: type[LifeboatError] = IntegrityError,
) -> Iterator[list[bytes]]:
    """Split a stream of back-to-back BSON documents into lists of raw documents.

    Each list holds about ``batch_bytes`` of documents. A truncated or malformed
    length prefix raises ``error`` (IntegrityError: it is a repository object) naming ``key``.
    """
    buf = b""
    batch: list[bytes] = []
    size = 0
    offset = 0
    try:
        while True:
            chunk = stream.read(_COPY)
            if not chunk:
                break
            buf = buf + chunk if buf else chunk
            pos = 0
            while len(buf) - pos >= 4:
                n = int.from_bytes(buf[pos : pos + 4], "little")
                if n < 5 or n > 48_000_000:
                    raise error(f"malformed BSON in {key} at byte {offset + pos}: length {n}")
                if len(buf) - pos < n:
                    break
                doc = buf[pos : pos + n]
                if doc[-1] != 0:
                    raise error(f"malformed BSON in {key} at byte {offset + pos}: no terminator")
                batch.append(doc)
                size += n
                pos += n
                if size >= batch_bytes:
                    yield batch
                    batch, size = [], 0
            offset += pos
            buf = buf[pos:]
    except zstandard.ZstdError as e:
        raise IntegrityError(f"cannot decompress {key}: {e}") from e
    if buf:
        raise error(f"truncated BSON at the end of {key} ({len(buf)} stray bytes)")
    if batch:
        yield batch


def batch_documents(raw: bytes) -> Iterator[bytes]:
    """The back-to-back BSON documents of ``raw`` (one raw cursor batch), each as its bytes."""
    pos, end = 0, len(raw)
    while pos < end:
        n = int.from_bytes(raw[pos : pos + 4], "little")
        yield raw[pos : pos + n]
        pos += n


def count_documents(raw: bytes | memoryview) -> int:
    """Number of back-to-back BSON documents in ``raw`` (one raw cursor batch)."""
    n = pos = 0
    end = len(raw)
    while pos < end:
        pos += int.from_bytes(raw[pos : pos + 4], "little")
        n += 1
    return n


def read_documents(storage: Storage, entry: FileEntry, batch_bytes: int = 4 << 20) -> Iterator[list[bytes]]:
    """The raw BSON documents of a stored object, in batches, its checksum checked first."""
    with open_verified(storage, entry) as stream:
        yield from iter_bson(stream, entry.key, batch_bytes)
