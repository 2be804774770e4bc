"""Encryption at rest (issue 9 item 4): the encrypted storage wrapper on a real filesystem."""

from __future__ import annotations

import base64
import io
import os
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mongo_lifeboat.errors import EncryptionKeyError, IntegrityError
from mongo_lifeboat.repo.crypto import CHUNK, EncryptedStorage, Key, key_check, parse_key, verify_check
from mongo_lifeboat.repo.filesystem import FileStorage

MARKER = b"PLAINTEXT-MARKER-7f3a"


def _key() -> Key:
    return Key(os.urandom(32))


REPO = "repo-1"


def _stored(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("size", [0, 10, CHUNK - 1, CHUNK, 3 * CHUNK + 17])
def test_round_trip_streams_and_hides_the_plaintext(tmp_path: Path, size: int) -> None:
    inner = FileStorage(tmp_path)
    store = EncryptedStorage(inner, [_key()], REPO)
    data = (MARKER * (size // len(MARKER) + 1))[:size]
    store.put("a/b.bin", io.BytesIO(data), {"m": "1"})
    with store.get("a/b.bin") as f:
        assert f.read() == data
    with store.get("a/b.bin", offset=3, length=5) as f:
        assert f.read() == data[3:8]
    if size >= len(MARKER):
        assert MARKER not in _stored(tmp_path)


def test_altered_truncated_or_foreign_objects_are_refused(tmp_path: Path) -> None:
    inner = FileStorage(tmp_path)
    store = EncryptedStorage(inner, [_key()], REPO)
    store.put("k", io.BytesIO(os.urandom(2 * CHUNK + 5)))
    path = tmp_path / "k"
    original = path.read_bytes()
    for broken in (
        original[:-1],
        original[: len(original) // 2],
        original[:40] + bytes([original[40] ^ 1]) + original[41:],
    ):
        path.write_bytes(broken)
        with pytest.raises(IntegrityError), store.get("k") as f:
            f.read()
    path.write_bytes(original)
    other = EncryptedStorage(inner, [_key()], REPO)
    with pytest.raises(EncryptionKeyError), other.get("k") as f:
        f.read()


def test_rotation_reads_old_objects_and_writes_with_the_new_key(tmp_path: Path) -> None:
    old, new = _key(), _key()
    EncryptedStorage(FileStorage(tmp_path), [old], REPO).put("old", io.BytesIO(b"written before"))
    rotated = EncryptedStorage(FileStorage(tmp_path), [new, old], REPO)
    rotated.put("new", io.BytesIO(b"written after"))
    assert rotated.read_versioned("old")[0] == b"written before"
    with (
        pytest.raises(EncryptionKeyError),
        EncryptedStorage(FileStorage(tmp_path), [old], REPO).get("new") as f,
    ):
        f.read()


def test_key_check_tells_a_missing_or_wrong_key(tmp_path: Path) -> None:
    right, wrong = _key(), _key()
    record = key_check(right)
    verify_check([right], record, "repo")
    verify_check([wrong, right], record, "repo")  # rotation: the old key is among those given
    with pytest.raises(EncryptionKeyError, match="no key"):
        verify_check([], record, "repo")
    with pytest.raises(EncryptionKeyError, match="wrong encryption key"):
        verify_check([wrong], record, "repo")
    assert base64.b64encode(right.material).decode() not in str(record)


def test_malformed_keys_are_refused_naming_where() -> None:
    with pytest.raises(EncryptionKeyError, match="not base64"):
        parse_key("not base64!", "LIFEBOAT_ENCRYPTION_KEY")
    with pytest.raises(EncryptionKeyError, match="16 bytes"):
        parse_key(base64.b64encode(b"x" * 16).decode(), "key.txt")


def test_an_object_moved_swapped_or_from_another_repository_is_refused_naming_where_it_was_written(
    tmp_path: Path,
) -> None:
    """Issue 20, item 2: the binding (repository id and key) is authenticated with the object."""
    key = _key()
    store = EncryptedStorage(FileStorage(tmp_path), [key], REPO)
    store.put("d/backups/A/manifest.json", io.BytesIO(b"old"))
    store.put("d/backups/B/manifest.json", io.BytesIO(b"new"))
    a, b = tmp_path / "d/backups/A/manifest.json", tmp_path / "d/backups/B/manifest.json"
    b.write_bytes(a.read_bytes())  # write access, no key: the old manifest copied over the new one
    with (
        pytest.raises(
            IntegrityError,
            match=r"d/backups/B/manifest\.json holds the object written as d/backups/A/manifest\.json",
        ),
        store.get("d/backups/B/manifest.json") as f,
    ):
        f.read()
    elsewhere = EncryptedStorage(FileStorage(tmp_path), [key], "repo-2")  # same key, other repository
    with (
        pytest.raises(IntegrityError, match=r"in another repository \(repo-1\)"),
        elsewhere.get("d/backups/A/manifest.json") as f,
    ):
        f.read()
    # An old-format (unbound) object is read only where the repository predates the binding.
    legacy = tmp_path / "legacy"
    header = b"LBE1" + key.id + os.urandom(8)

    sealed = AESGCM(key.material).encrypt(
        header[-8:] + struct.pack(">I", 0), b"v1", header + struct.pack(">I?", 0, True)
    )
    legacy.write_bytes(header + struct.pack(">I", len(sealed)) + sealed)
    with EncryptedStorage(FileStorage(tmp_path), [key], REPO, unbound_ok=True).get("legacy") as f:
        assert f.read() == b"v1"
    with pytest.raises(IntegrityError, match="unbound"), store.get("legacy") as f:
        f.read()
