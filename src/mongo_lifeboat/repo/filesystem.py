"""Filesystem backend: ``file:///path``.

``put`` writes ``<dir>/.tmp-<name>-<random>``, fsyncs it, renames it over the final
name and fsyncs the directory, so a crash leaves either the old state or the new
one, never a partial object under its real name. Object metadata is kept in a
sidecar ``<name>.meta.json`` written the same way *before* the object itself.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ..errors import RepositoryError
from ..faults import crash_point
from .storage import ObjectInfo, ObjectMissing, check_key

_META_SUFFIX = ".meta.json"
_TMP_PREFIX = ".tmp-"


_UNWRITABLE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
    errno.EEXIST,
}


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A repository that cannot be written (read-only, full, a file where a directory should
    be) is the repository's problem, named with its path: never an internal error."""
    try:
        yield
    except OSError as e:
        if e.errno not in _UNWRITABLE:
            raise
        raise RepositoryError(
            f"cannot write {e.filename or path}: {e.strerror or e}",
            "check that the repository is writable by this user and has free space",
        ) from e


class FileStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = "file://" + str(root)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root.joinpath(*key.split("/"))

    def _atomic_write(self, path: Path, stream: BinaryIO) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + "-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            crash_point("object-written")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return size

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        with _writing(self._path(key)):
            return self._put(key, stream, meta)

    def _put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None) -> ObjectInfo:
        path = self._path(key)
        meta_path = path.with_name(path.name + _META_SUFFIX)
        if meta:
            self._atomic_write(meta_path, io.BytesIO(json.dumps(meta, sort_keys=True).encode()))
        else:
            meta_path.unlink(missing_ok=True)
        size = self._atomic_write(path, stream)
        return ObjectInfo(key, size, dict(meta or {}))

    def create(self, key: str, data: bytes) -> bool:
        with _writing(self._path(key)):
            return self._create(key, data)

    def _create(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + "-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # fails if the name exists: atomic create-if-absent
            return True
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)

    def locked_until(self, key: str) -> datetime | None:
        return None  # a directory has no retention of its own

    def undelete(self, prefix: str) -> tuple[str, ...]:
        return ()  # a directory keeps no versions: what was deleted is gone

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        """``.tmp-`` files not written to for ``older_than_s``: a live writer keeps touching its
        file, so only a dead one's is old."""
        cutoff = time.time() - older_than_s
        found = []
        for path in sorted(self.root.rglob(_TMP_PREFIX + "*")):
            try:
                if not path.is_file() or path.stat().st_mtime > cutoff:
                    continue
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                continue  # renamed into place (or removed) just now: not a leftover
            found.append(path.relative_to(self.root).as_posix())
        return tuple(found)

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError) as e:
            raise ObjectMissing(key) from e
        return data, hashlib.sha256(data).hexdigest()

    def replace(self, key: str, data: bytes, version: str) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Read, compare and write under an exclusive lock beside the object (processes on this
        # host; the lock file is hidden from listings like every temporary file).
        lock = path.with_name(_TMP_PREFIX + path.name + ".cas")
        with _writing(path), open(lock, "a+b") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            try:
                current = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                return False
            if current != version:
                return False
            self._atomic_write(path, io.BytesIO(data))
            return True

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        path = self._path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - the caller owns the stream
        except FileNotFoundError as e:
            raise ObjectMissing(key) from e
        if offset:
            f.seek(offset)
        if length is None:
            return f
        with f:
            return io.BytesIO(f.read(length))

    def _meta(self, path: Path) -> dict[str, str]:
        meta_path = path.with_name(path.name + _META_SUFFIX)
        try:
            return dict(json.loads(meta_path.read_text()))
        except FileNotFoundError:
            return {}

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError) as e:
            raise ObjectMissing(key) from e
        if not path.is_file():
            raise ObjectMissing(key)
        return ObjectInfo(key, size, self._meta(path))

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        # Metadata sidecars are local: always read (``with_meta`` costs nothing here).
        keys: list[str] = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(_TMP_PREFIX) or name.endswith(_META_SUFFIX):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                if rel.startswith(prefix):
                    keys.append(rel)
        for key in sorted(keys):
            try:
                yield self.stat(key)
            except ObjectMissing:
                continue  # deleted while we listed

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            with _writing(path):
                path.unlink(missing_ok=True)
                path.with_name(path.name + _META_SUFFIX).unlink(missing_ok=True)
