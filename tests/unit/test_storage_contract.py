"""The storage contract every backend must pass (DESIGN §2). Add new backends to BACKENDS."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from mongo_lifeboat.repo.azure import AzureStorage
from mongo_lifeboat.repo.crypto import EncryptedStorage, Key
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.gcs import GcsStorage
from mongo_lifeboat.repo.mirror import Member, MirrorStorage
from mongo_lifeboat.repo.retrying import RetryingStorage
from mongo_lifeboat.repo.s3 import S3Storage
from mongo_lifeboat.repo.storage import ObjectMissing, Storage

from ..support.emulators import azure_container, azure_server, gcs_bucket, gcs_server
from ..support.memory_storage import MemoryStorage
from ..support.s3 import make_bucket, s3_server
from ..support.waiting import wait_for


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    with gcs_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def azure_account() -> Iterator[str]:
    with azure_server() as azurite:
        yield azurite.connection


BACKENDS = ["file", "memory", "s3", "s3-versioned", "gcs", "azure"]
# The wrappers a repository stacks on a backend pass the same contract as the backends.
WRAPPERS = ["retrying(file)", "encrypted(file)", "mirror(file)", "mirror(file, file)"]


def _backend(kind: str, request: pytest.FixtureRequest, path: Path) -> Storage:
    if kind == "file":
        return FileStorage(path)
    if kind == "memory":
        return MemoryStorage()
    if kind == "gcs":
        request.getfixturevalue("gcs_endpoint")
        bucket = "contract-" + uuid.uuid4().hex[:12]
        gcs_bucket(bucket)
        return GcsStorage(bucket, "repo/prefix")
    if kind == "azure":
        request.getfixturevalue("azure_account")
        container = "contract-" + uuid.uuid4().hex[:12]
        azure_container(container)
        return AzureStorage(container, "repo/prefix")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = "contract-" + uuid.uuid4().hex[:12]
    client = make_bucket(endpoint, bucket)
    if kind == "s3-versioned":  # a delete only hides: undelete brings it back
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3Storage(bucket, "repo/prefix")


def _wrapped(kind: str, path: Path) -> Storage:
    if kind == "retrying(file)":
        return RetryingStorage(FileStorage(path), deadline_s=5)
    if kind == "encrypted(file)":
        return EncryptedStorage(FileStorage(path), [Key(os.urandom(32))], "contract-repo")
    members = [Member(f"m{i}", FileStorage(path / f"m{i}")) for i in range(kind.count("file"))]
    return MirrorStorage(members)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return _backend(request.param, request, tmp_path / "store")


# What another process can write to: a kill mid-write is only a question for these (memory
# ends with its process).
@pytest.fixture(params=[b for b in BACKENDS if b != "memory"])
def shared_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return _backend(request.param, request, tmp_path / "store")


@pytest.fixture(params=BACKENDS + WRAPPERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param in BACKENDS:
        return _backend(request.param, request, tmp_path / "store")
    return _wrapped(request.param, tmp_path / "store")


def _assert_stored_size(store: Storage, key: str, content_length: int, reported: int) -> None:
    """``size`` is what the store holds: the content's length, or, where the store encrypts,
    the ciphertext's (header, nonces and tags added), the same wherever it is reported."""
    if isinstance(store, EncryptedStorage):
        assert reported == store.inner.stat(key).size > content_length
    else:
        assert reported == content_length


def test_put_get_roundtrip_with_meta(store: Storage) -> None:
    info = store.put("a/b/c.bin", io.BytesIO(b"hello world"), {"sha256": "x", "entries": "3"})
    _assert_stored_size(store, "a/b/c.bin", 11, info.size)
    with store.get("a/b/c.bin") as f:
        assert f.read() == b"hello world"
    assert store.stat("a/b/c.bin").meta == {"sha256": "x", "entries": "3"}
    assert [o.meta for o in store.list("a/", with_meta=True)] == [{"sha256": "x", "entries": "3"}]


def test_ranged_get(store: Storage) -> None:
    store.put("k", io.BytesIO(b"0123456789"))
    with store.get("k", offset=3, length=4) as f:
        assert f.read() == b"3456"
    with store.get("k", offset=8) as f:
        assert f.read() == b"89"


def test_overwrite_replaces_whole_object(store: Storage) -> None:
    store.put("k", io.BytesIO(b"long original content"))
    store.put("k", io.BytesIO(b"short"))
    with store.get("k") as f:
        assert f.read() == b"short"
    _assert_stored_size(store, "k", 5, store.stat("k").size)


def test_missing_objects(store: Storage) -> None:
    with pytest.raises(ObjectMissing):
        store.get("nope")
    with pytest.raises(ObjectMissing):
        store.stat("nope")
    store.delete(["nope"])  # not an error


def test_list_is_sorted_and_prefixed(store: Storage) -> None:
    for key in ["b/2", "a/1", "b/1", "c"]:
        store.put(key, io.BytesIO(key.encode()))
    assert [o.key for o in store.list()] == ["a/1", "b/1", "b/2", "c"]
    assert [o.key for o in store.list("b/")] == ["b/1", "b/2"]
    for o in store.list():
        _assert_stored_size(store, o.key, len(o.key), o.size)


def test_delete(store: Storage) -> None:
    store.put("x/1", io.BytesIO(b"1"), {"m": "1"})
    store.put("x/2", io.BytesIO(b"2"))
    store.delete(["x/1"])
    assert [o.key for o in store.list("x/")] == ["x/2"]


def test_undelete_brings_back_what_a_versioned_store_kept_and_nothing_else(
    store: Storage, request: pytest.FixtureRequest
) -> None:
    store.put("x/1", io.BytesIO(b"first"))
    store.put("x/1", io.BytesIO(b"second"))
    store.put("x/2", io.BytesIO(b"2"))
    store.put("y/1", io.BytesIO(b"y"))
    store.delete(["x/1", "y/1"])
    assert store.undelete("z/") == ()
    back = store.undelete("x/")
    if request.node.callspec.params["store"] == "s3-versioned":
        assert back == ("x/1",)
        with store.get("x/1") as f:
            assert f.read() == b"second"  # the newest version, as it was before the delete
    else:
        assert back == ()  # a store without versions: what was deleted is gone
    assert [o.key for o in store.list()] == [*back, "x/2"]
    assert store.undelete("x/") == ()  # nothing hidden any more


def test_unsafe_keys_are_refused(store: Storage) -> None:
    for key in ["../escape", "/abs", "a//b", "a/./b", ""]:
        with pytest.raises(ValueError):
            store.put(key, io.BytesIO(b"x"))


class _Exploding(io.RawIOBase):
    """A stream that fails half-way, like a process dying mid-upload."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if self.sent:
            raise OSError("connection lost")
        self.sent = True
        b[:4] = b"part"
        return 4


def test_failed_put_leaves_nothing_visible(store: Storage) -> None:
    with pytest.raises(OSError):
        store.put("k", io.BufferedReader(_Exploding()))
    with pytest.raises(ObjectMissing):
        store.stat("k")
    assert list(store.list()) == []


def test_failed_overwrite_keeps_the_old_object(store: Storage) -> None:
    store.put("k", io.BytesIO(b"committed"))
    with pytest.raises(OSError):
        store.put("k", io.BufferedReader(_Exploding()))
    with store.get("k") as f:
        assert f.read() == b"committed"


def test_create_is_create_if_absent(store: Storage) -> None:
    assert store.create("locks/a.json", b"first") is True
    assert store.create("locks/a.json", b"second") is False
    with store.get("locks/a.json") as f:
        assert f.read() == b"first"
    store.delete(["locks/a.json"])
    assert store.create("locks/a.json", b"third") is True


def test_replace_is_compare_and_swap(store: Storage) -> None:
    store.put("locks/l.json", io.BytesIO(b"v1"))
    data, version = store.read_versioned("locks/l.json")
    assert data == b"v1"
    assert store.replace("locks/l.json", b"v2", version) is True
    assert store.replace("locks/l.json", b"v3", version) is False  # stale version: refused
    assert store.read_versioned("locks/l.json")[0] == b"v2"
    assert store.replace("locks/missing.json", b"x", version) is False
    with pytest.raises(ObjectMissing):
        store.read_versioned("locks/missing.json")
    assert [o.key for o in store.list("locks/")] == ["locks/l.json"]  # no helper files listed


def _race(attempt: Callable[[str], bool], names: list[str]) -> list[bool]:
    """Run ``attempt(name)`` for every name at the same moment, one thread each."""
    barrier = threading.Barrier(len(names))
    results: list[bool] = []

    def run(name: str) -> None:
        barrier.wait()
        results.append(attempt(name))

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def test_two_competing_writers_exactly_one_wins(store: Storage) -> None:
    store.put("locks/race.json", io.BytesIO(b"expired"))
    _, version = store.read_versioned("locks/race.json")
    for attempt in range(5):
        names = [f"writer-{attempt}-{i}" for i in range(2)]
        seen = version
        assert _race(lambda n, seen=seen: store.replace("locks/race.json", n.encode(), seen), names) == [
            False,
            True,
        ]
        winner, version = store.read_versioned("locks/race.json")
        assert winner.decode() in names
    assert _race(lambda n: store.create("locks/new.json", n.encode()), ["c0", "c1"]) == [False, True]


@pytest.mark.parametrize("seekable", [True, False], ids=["spool", "stream"])
def test_a_large_object_goes_in_parts_and_reads_back_whole(backend: Storage, seekable: bool) -> None:
    """Above every backend's single-request size (S3 multipart, GCS resumable, Azure blocks),
    from a seekable spool (length known: parts may go in parallel) or a stream of unknown
    length; read back whole and by ranges that cross the parts' and the download windows'
    boundaries."""
    data = hashlib.sha256(b"seed").digest() * ((40 << 20) // 32) + b"tail"
    body: BinaryIO = io.BytesIO(data) if seekable else io.BufferedReader(_Unseekable(data))
    info = backend.put("backups/rs0/big/data.bson.zst", body, {"sha256": "x"})
    assert info.size == len(data) == backend.stat("backups/rs0/big/data.bson.zst").size
    with backend.get("backups/rs0/big/data.bson.zst") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    for offset, length in [((8 << 20) - 3, 7), ((16 << 20) - 5, (8 << 20) + 10), (len(data) - 6, None)]:
        with backend.get("backups/rs0/big/data.bson.zst", offset, length) as f:
            assert f.read() == data[offset : None if length is None else offset + length]


class _Unseekable(io.RawIOBase):
    """A stream that cannot tell its length: read once, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), len(self.data) - self.at, 1 << 20)
        b[:n] = self.data[self.at : self.at + n]
        self.at += n
        return n


_KILLED_UPLOADER = """
import io, sys, time
from pathlib import Path
from mongo_lifeboat.repo.backends import open_storage

url, ready = sys.argv[1], Path(sys.argv[2])

class Endless(io.RawIOBase):
    sent = 0
    def readable(self):
        return True
    def readinto(self, b):
        if self.sent >= 40 << 20:  # past the multipart threshold: parts are already stored
            ready.write_text("uploading")
            time.sleep(3600)  # hold the upload open until the test kills us
        n = len(b)
        b[:n] = bytes(n)
        self.sent += n
        return n

open_storage(url).put("backups/rs0/big/data.bson.zst", io.BufferedReader(Endless(), 1 << 20))
"""


def test_a_process_killed_mid_upload_leaves_nothing_listed(shared_backend: Storage, tmp_path: Path) -> None:
    """SIGKILL half-way through a (multipart, on S3) upload: no object, complete or not, appears.
    (The backends: a wrapper adds no storage of its own for a killed process to leave behind.)"""
    store = shared_backend
    store.put("backups/rs0/big/manifest-before.json", io.BytesIO(b"{}"))
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", _KILLED_UPLOADER, store.url, str(ready)])
    try:
        keeps_partials = store.url.startswith(("file://", "s3://"))

        def under_way() -> bool:
            # On S3 the transfer reads ahead of its CreateMultipartUpload: wait for the store to
            # hold the partial upload, not only for the child to have read 40 MiB.
            started = ready.exists() and (not keeps_partials or bool(store.sweep_partials(0, dry_run=True)))
            return started or child.poll() is not None

        wait_for(under_way, "the upload to be under way", 120)
        assert child.poll() is None, "the uploader ended before it could be killed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert [o.key for o in store.list("backups/")] == ["backups/rs0/big/manifest-before.json"]
    with pytest.raises(ObjectMissing):
        store.stat("backups/rs0/big/data.bson.zst")
    # What it left is swept once it is old enough (cleanup), and nothing that is an object.
    if not store.url.startswith("s3://"):  # moto dates every multipart upload 2010-11-10: S3's
        assert store.sweep_partials(3600) == ()  # own times are real, so the rule holds there
    leftovers = store.sweep_partials(0, dry_run=True)
    assert store.sweep_partials(0) == leftovers and store.sweep_partials(0) == ()
    if store.url.startswith(("file://", "s3://")):  # the stores that keep partial writes at all
        assert len(leftovers) == 1 and "data.bson.zst" in leftovers[0]
    assert [o.key for o in store.list("backups/")] == ["backups/rs0/big/manifest-before.json"]
