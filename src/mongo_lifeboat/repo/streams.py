"""Byte-stream helpers the object-store backends share: counting what an upload sends,
reading a head to decide between one request and a chunked upload, and serving a download
whose body is fetched in windows."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, BinaryIO

BUFFER = 1 << 20


class Counting(io.RawIOBase):
    """Any object with ``read(n)`` as a raw binary stream, counting what passed through (the
    size of an upload); with ``owns``, closing the source with it (a download's body)."""

    def __init__(self, source: Any, owns: bool = False) -> None:
        self.source, self.owns, self.size = source, owns, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.source.read(len(b))
        n = len(data)
        b[:n] = data
        self.size += n
        return n

    def close(self) -> None:
        if self.owns and not self.closed:
            self.source.close()
        super().close()


def read_head(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes from the start of ``stream``: fewer only when it ends first."""
    parts, got = [], 0
    while got < limit:
        data = stream.read(limit - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def remaining(stream: BinaryIO) -> int | None:
    """How many bytes a seekable stream holds from where it stands (None if it cannot tell):
    an upload of known length can go in parallel parts and be resent part by part."""
    if not stream.seekable():
        return None
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end - here


class Windows(io.RawIOBase):
    """A download read ``window`` bytes per request, from ``offset`` up to ``end`` (exclusive;
    None: the object's end), so memory stays bounded whatever the object's size. ``fetch(start,
    stop)`` returns the bytes in [start, stop), fewer at the object's end. The first window is
    fetched at once: a missing object fails when it is opened, not when it is first read."""

    def __init__(self, fetch: Callable[[int, int], bytes], offset: int, end: int | None, window: int) -> None:
        self.fetch, self.end, self.window = fetch, end, window
        self.position, self.done = offset, False
        self.buffer, self.at = b"", 0
        self._next()

    def _next(self) -> None:
        start = self.position
        stop = start + self.window if self.end is None else min(start + self.window, self.end)
        self.buffer = self.fetch(start, stop) if stop > start else b""
        self.at, self.position = 0, start + len(self.buffer)
        self.done = len(self.buffer) < stop - start or self.position == stop == self.end

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.at >= len(self.buffer):
            if self.done:
                return 0
            self._next()
        n = min(len(b), len(self.buffer) - self.at)
        b[:n] = memoryview(self.buffer)[self.at : self.at + n]
        self.at += n
        return n


class Sequential:
    """A forward-only reader over bytes already read and the rest of their stream, for uploads
    of unknown length: ``read(n)`` gives ``n`` bytes unless the end comes first (a short read
    means the end to a chunked uploader), and ``tell`` says how far it got."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest, self.position = head, rest, 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            data = self.head[self.position :] + self.rest.read()
        else:
            data = self.head[self.position : self.position + n]
            if len(data) < n:
                data += read_head(self.rest, n - len(data))
        self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position
