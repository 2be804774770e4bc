"""Compressed, checksummed objects: every read is verified before use."""

from __future__ import annotations

from pathlib import Path

import bson
import pytest

from mongo_lifeboat.errors import IntegrityError
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.objects import ObjectWriter, iter_bson, open_verified, read_verified


def _write(store: FileStorage, docs: list[dict]) -> object:
    w = ObjectWriter(store, "d/x.bson.zst")
    for d in docs:
        w.write(bson.encode(d), 1)
    return w.commit()


def test_roundtrip_counts_and_batches(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    docs = [{"_id": i, "pad": "x" * 100} for i in range(2000)]
    entry = _write(store, docs)
    assert entry.documents == 2000 and entry.raw_bytes == sum(len(bson.encode(d)) for d in docs)
    with open_verified(store, entry) as f:
        batches = list(iter_bson(f, entry.key, batch_bytes=10_000))
    assert len(batches) > 1
    assert [bson.decode(r) for b in batches for r in b] == docs


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    entry = _write(store, [{"_id": 1}])
    path = tmp_path / entry.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"checksum mismatch: d/x\.bson\.zst"):
        read_verified(store, entry)


def test_truncation_and_absence_are_detected(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    entry = _write(store, [{"_id": 1}, {"_id": 2}])
    path = tmp_path / entry.key
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(IntegrityError, match="truncated"):
        read_verified(store, entry)
    path.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        read_verified(store, entry)


def test_malformed_bson_stream_is_named(tmp_path: Path) -> None:
    import io

    with pytest.raises(IntegrityError, match=r"k\.bson"):
        list(iter_bson(io.BytesIO(bson.encode({"a": 1})[:-2]), "k.bson"))
    with pytest.raises(IntegrityError, match="length"):
        list(iter_bson(io.BytesIO(b"\x01\x00\x00\x00\x00"), "k.bson"))
