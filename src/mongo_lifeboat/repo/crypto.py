"""Encryption at rest: AES-256-GCM per object, after compression, in chunks (large objects
stream), with a small authenticated header.

Object layout: ``LBE2`` · key id (8 bytes) · nonce prefix (8 random bytes) · u16 length ·
binding (``<repository id>:<object key>``), then chunks of ``u32 length`` · ciphertext+tag, each
sealed with nonce = prefix · u32 counter and the header, the counter and a last-chunk flag as
associated data — so a chunk cannot be altered, moved, dropped or the object cut short, and
the object cannot be moved, swapped or replayed under another key or into another repository,
without the read failing (naming where it was written when it was moved). ``LBE1`` objects
(before the binding) stay readable in repositories created before it. The key id is a keyed hash of the
key (it tells keys apart, and reveals nothing of them). The repository marker stays plaintext
and carries a key check, so a missing or wrong key is found when the repository is opened,
before anything is written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import EncryptionKeyError, IntegrityError
from ..secrets import register
from . import layout
from .storage import ObjectInfo, Storage

MAGIC = b"LBE1"  # unbound: read only in repositories created before the binding
MAGIC_BOUND = b"LBE2"
CHUNK = 1 << 20
_HEADER = len(MAGIC) + 8 + 8
_CHECK = b"lifeboat key check"


@dataclass(frozen=True)
class Key:
    material: bytes

    @property
    def id(self) -> bytes:
        return hashlib.sha256(b"lifeboat key id\x00" + self.material).digest()[:8]


def parse_key(text: str, where: str) -> Key:
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except ValueError as e:
        raise EncryptionKeyError(f"the encryption key in {where} is not base64") from e
    if len(material) != 32:
        raise EncryptionKeyError(f"the encryption key in {where} is {len(material)} bytes; AES-256 needs 32")
    register(text.strip())
    return Key(material)


def load_keys(env_value: str | None, key_file: str | None, old_key_files: Iterable[str]) -> list[Key]:
    """The current key first (``LIFEBOAT_ENCRYPTION_KEY``, else the plan's key file), then old ones."""
    keys = []
    if env_value:
        keys.append(parse_key(env_value, "LIFEBOAT_ENCRYPTION_KEY"))
    elif key_file:
        keys.append(parse_key(_read(key_file), key_file))
    keys.extend(parse_key(_read(path), path) for path in old_key_files)
    return keys


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise EncryptionKeyError(f"cannot read the key file {path}: {e}") from e


def _aes(material: bytes) -> Any:
    # cryptography is loaded by the first encrypted object, not by every command that starts.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(material)


def _invalid_tag() -> type[Exception]:
    from cryptography.exceptions import InvalidTag

    return InvalidTag


def key_check(key: Key) -> dict[str, str]:
    """What the plaintext repository marker records: which key, and proof of it."""
    nonce = os.urandom(12)
    sealed = _aes(key.material).encrypt(nonce, _CHECK, key.id)
    return {"key_id": key.id.hex(), "check": base64.b64encode(nonce + sealed).decode()}


def verify_check(keys: list[Key], record: dict[str, str], where: str) -> None:
    if not keys:
        raise EncryptionKeyError(
            f"the repository {where} is encrypted and no key was given",
            "set LIFEBOAT_ENCRYPTION_KEY or [[repository]] key_file",
        )
    match = next((k for k in keys if k.id.hex() == record.get("key_id")), None)
    if match is None:
        # Repositories record the key they were created with; rotation adds old keys to try.
        match = keys[-1]
    raw = base64.b64decode(record.get("check", ""))
    try:
        _aes(match.material).decrypt(raw[:12], raw[12:], bytes.fromhex(record.get("key_id", "")))
    except (_invalid_tag(), ValueError) as e:
        raise EncryptionKeyError(
            f"wrong encryption key for {where}: none of the {len(keys)} key(s) given is the repository's",
            "give the key the repository was created with (as LIFEBOAT_ENCRYPTION_KEY or in old_key_files)",
        ) from e


def _aad(header: bytes, counter: int, last: bool) -> bytes:
    return header + struct.pack(">I?", counter, last)


def _encrypted_chunks(key: Key, stream: BinaryIO, binding: bytes) -> Iterator[bytes]:
    header = MAGIC_BOUND + key.id + os.urandom(8) + struct.pack(">H", len(binding)) + binding
    yield header
    aes, counter = _aes(key.material), 0
    chunk = stream.read(CHUNK)
    while True:
        following = stream.read(CHUNK) if chunk else b""
        last = not following
        sealed = aes.encrypt(header[12:20] + struct.pack(">I", counter), chunk, _aad(header, counter, last))
        yield struct.pack(">I", len(sealed)) + sealed
        if last:
            return
        chunk, counter = following, counter + 1


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte strings."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            nxt = next(self.chunks, None)
            if nxt is None:
                return 0
            self.pending = nxt
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def encrypt_stream(key: Key, stream: BinaryIO, binding: bytes) -> BinaryIO:
    return io.BufferedReader(_Chunks(_encrypted_chunks(key, stream, binding)), CHUNK)


def _decrypted_chunks(
    keys: dict[bytes, Key], stream: BinaryIO, name: str, binding: bytes, unbound_ok: bool
) -> Iterator[bytes]:
    with stream:
        header = stream.read(_HEADER)
        if len(header) < _HEADER or not header.startswith((MAGIC, MAGIC_BOUND)):
            raise IntegrityError(f"{name} is not an encrypted Lifeboat object (or is damaged)")
        if header.startswith(MAGIC_BOUND):
            size = stream.read(2)
            written_as = stream.read(struct.unpack(">H", size)[0]) if len(size) == 2 else b""
            header += size + written_as
            if written_as != binding:
                raise IntegrityError(_moved(name, written_as, binding))
        elif not unbound_ok:
            raise IntegrityError(
                f"{name} is an unbound (old-format) object in a repository that binds every object: swapped in"
            )
        key = keys.get(header[4:12])
        if key is None:
            raise EncryptionKeyError(
                f"{name} was encrypted with a key not given (key id {header[4:12].hex()})"
            )
        aes, counter = _aes(key.material), 0
        while True:
            size = stream.read(4)
            if len(size) < 4:
                raise IntegrityError(f"{name} is truncated (encrypted chunk {counter} missing)")
            sealed = stream.read(struct.unpack(">I", size)[0])
            nonce = header[12:20] + struct.pack(">I", counter)
            for last in (False, True):
                try:
                    plain = aes.decrypt(nonce, sealed, _aad(header, counter, last))
                    break
                except _invalid_tag():
                    continue
            else:
                raise IntegrityError(f"{name} failed authentication at chunk {counter} (altered or damaged)")
            yield plain
            if last:
                return
            counter += 1


def _moved(name: str, written_as: bytes, binding: bytes) -> str:
    repo, _, key = written_as.decode("utf-8", "replace").partition(":")
    here_repo = binding.decode().partition(":")[0]
    where = f"as {key}" if repo == here_repo else f"in another repository ({repo}) as {key}"
    return f"{name} holds the object written {where}: it was moved or swapped, and is refused"


class EncryptedStorage:
    """Every object but the repository marker encrypted with the current key and bound to the
    repository and the key it is stored under; objects written with older keys stay readable
    with ``old`` keys (rotation). ``unbound_ok``: the repository predates the binding, so its
    old objects (``LBE1``) are still read."""

    def __init__(self, inner: Storage, keys: list[Key], repo_id: str, unbound_ok: bool = False) -> None:
        self.inner = inner
        self.url = inner.url
        self.current = keys[0]
        self.keys = {k.id: k for k in keys}
        self.repo_id = repo_id
        self.unbound_ok = unbound_ok

    def _plain(self, key: str) -> bool:
        return key == layout.REPO_MARKER

    def _binding(self, key: str) -> bytes:
        return f"{self.repo_id}:{key}".encode()

    def _decrypt(self, key: str, stream: BinaryIO) -> BinaryIO:
        chunks = _decrypted_chunks(self.keys, stream, key, self._binding(key), self.unbound_ok)
        return io.BufferedReader(_Chunks(chunks), CHUNK)

    def _encrypt(self, key: str, stream: BinaryIO) -> BinaryIO:
        return encrypt_stream(self.current, stream, self._binding(key))

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        if self._plain(key):
            return self.inner.put(key, stream, meta)
        info = self.inner.put(key, self._encrypt(key, stream), meta)
        return ObjectInfo(key, info.size, info.meta)

    def create(self, key: str, data: bytes) -> bool:
        return self.inner.create(key, self._encrypt(key, io.BytesIO(data)).read())

    def replace(self, key: str, data: bytes, version: str) -> bool:
        return self.inner.replace(key, self._encrypt(key, io.BytesIO(data)).read(), version)

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        data, version = self.inner.read_versioned(key)
        return self._decrypt(key, io.BytesIO(data)).read(), version

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        stream = self.inner.get(key)
        if self._plain(key):
            return stream
        plain = self._decrypt(key, stream)
        if not offset and length is None:
            return plain
        with plain:
            plain.read(offset)
            return io.BytesIO(plain.read() if length is None else plain.read(length))

    def stat(self, key: str) -> ObjectInfo:
        return self.inner.stat(key)

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix, with_meta)

    def delete(self, keys: Iterable[str]) -> None:
        self.inner.delete(keys)

    def locked_until(self, key: str) -> datetime | None:
        return self.inner.locked_until(key)

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return self.inner.sweep_partials(older_than_s, dry_run)

    def undelete(self, prefix: str) -> tuple[str, ...]:
        return self.inner.undelete(prefix)  # the versions brought back are still bound to their keys
