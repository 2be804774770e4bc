"""mongodump formats without a server: names, metadata, the archive reader's strictness."""

from __future__ import annotations

import io
import re
from pathlib import Path

import bson
import pytest

from mongo_lifeboat.catalog.timeline import build_timeline
from mongo_lifeboat.errors import DumpInvalid
from mongo_lifeboat.mongodump.archive import OPLOG, ArchiveNamespace, ArchiveReader, ArchiveWriter, crc64
from mongo_lifeboat.mongodump.metadata import parse_metadata, render_metadata
from mongo_lifeboat.mongodump.names import escape_collection, is_shortened, unescape_collection
from mongo_lifeboat.repo.manifest import ImportOrigin, Manifest

from ..support.manifests import make_manifest
from ..support.mongodump import crc64_xz

TESTDATA = "mongorestore/testdata"


def test_crc64_matches_the_check_value_and_the_independent_implementation() -> None:
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA  # the catalogued check value of CRC-64/XZ
    data = bytes(range(256)) * 7
    assert crc64(data) == crc64_xz(data)
    assert crc64(data[100:], crc64(data[:100])) == crc64(data)


def test_collection_file_names_are_those_mongodump_writes(fixtures_dir: Path) -> None:
    for dump in ("specialcharacter", "longcollectionname"):
        meta = next((fixtures_dir / TESTDATA / dump / "db1").glob("*.metadata.json"))
        name = parse_metadata(meta.read_text(), meta.name).name or unescape_collection(
            meta.name.removesuffix(".metadata.json")
        )
        if dump == "specialcharacter":
            name = "cafés"  # its metadata predates collectionName
        assert escape_collection(name) + ".metadata.json" == meta.name
    assert escape_collection("a b+c$d/e%f") == "a%20b+c$d%2Fe%25f"
    assert unescape_collection("a%20b+c$d%2Fe%25f") == "a b+c$d/e%f"  # '+' is a plus sign
    long = escape_collection("é" * 200)
    assert len(long) == 238 and is_shortened(long) and not is_shortened(escape_collection("short"))


def test_legacy_index_specs_are_fixed_as_mongorestore_does(fixtures_dir: Path) -> None:
    path = fixtures_dir / TESTDATA / "indextestdump/indextest/test_collection.metadata.json"
    meta = parse_metadata(path.read_text(), path.name)
    spec = next(ix for ix in meta.indexes if ix["name"] == "a_1_b_true")
    assert spec["key"] == {"a": 1.0, "b": 1, "c": 1, "d": 1}
    assert type(spec["key"]["b"]) is int  # True is not 1 to createIndexes
    assert "safe" not in spec and "ns" not in spec
    assert len(meta.conversions) == 2


def test_metadata_round_trips_through_render(fixtures_dir: Path) -> None:
    path = fixtures_dir / TESTDATA / "timeseries_tests/ts_dump/timeseries_test/foo_ts.metadata.json"
    meta = parse_metadata(path.read_text(), path.name)
    assert meta.type == "timeseries" and meta.name == "foo_ts"
    text = render_metadata("foo_ts", meta.type, bson.json_util.loads(path.read_text())["options"], [], None)
    assert parse_metadata(text, "x").options == meta.options


@pytest.mark.parametrize(
    "text,words",
    [
        ('{"options": []}', "'options' must be an object"),
        ('{"type": "sequence"}', "unknown collection type"),
        ('{"indexes": [{"name": "x"}]}', "no key or name"),
        ("[1]", "not a JSON object"),
    ],
)
def test_bad_metadata_is_refused(text: str, words: str) -> None:
    with pytest.raises(DumpInvalid, match=re.escape(words)):
        parse_metadata(text, "m.json")


def _archive(blocks: list[tuple[tuple[str, str], list[bytes]]], ends: list[tuple[str, str]]) -> bytes:
    out = io.BytesIO()
    listed = [
        ArchiveNamespace("d", "c", '{"indexes": []}', "collection"),
        ArchiveNamespace("", "oplog", "", ""),
    ]
    w = ArchiveWriter(out, listed, "7.0.0", "test")
    for key, docs in blocks:
        w.write(key, docs)
    for key in ends:
        w.end(key)
    return out.getvalue()


def _read(data: bytes) -> list[tuple[tuple[str, str], list[bytes]]]:
    reader = ArchiveReader(io.BytesIO(data), "t.archive")
    return list(reader.blocks())


DOCS = [bson.encode({"_id": i, "x": "y" * i}) for i in range(50)]


def test_the_writer_cuts_blocks_and_the_reader_gives_back_the_same_documents() -> None:
    out = io.BytesIO()
    w = ArchiveWriter(out, [ArchiveNamespace("d", "c", "{}", "collection")], "7.0.0", "t", block_bytes=300)
    w.write(("d", "c"), DOCS)
    w.end(("d", "c"))
    blocks = _read(out.getvalue())
    assert len(blocks) > 3 and [d for _, docs in blocks for d in docs] == DOCS


@pytest.mark.parametrize(
    "blocks,ends,words",
    [
        ([(("d", "other"), DOCS)], [], "not in the archive's namespace list"),
        ([(("d", "c"), DOCS)], [("d", "c"), ("d", "c")], "after its end (EOF) block"),
        ([(("d", "c"), DOCS)], [OPLOG], "before the end block of d.c"),
    ],
)
def test_structural_errors_are_named(blocks: list, ends: list, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(DumpInvalid, match=re.escape(words)):
        _read(_archive(blocks, ends))


def test_an_unknown_archive_version_is_refused() -> None:
    data = _archive([], [("d", "c"), OPLOG])
    with pytest.raises(DumpInvalid, match=re.escape("version '0.2' is not supported")):
        _read(data.replace(b"0.1\x00", b"0.2\x00", 1))


def _manifest(backup_id: str, end: str, has_oplog: bool | None) -> Manifest:
    origin = (
        None
        if has_oplog is None
        else ImportOrigin(format="mongodump-dir", path="/d", gzip=False, imported_at="t", has_oplog=has_oplog)
    )
    return make_manifest(backup_id, end, 1 if has_oplog else 0, origin)


def test_a_dump_without_oplog_is_never_a_point_in_time_base() -> None:
    timeline = build_timeline(
        [
            _manifest("20261124T010000Z", "100:1", None),
            _manifest("20261124T020000Z", "200:1", True),
            _manifest("20261124T030000Z", "300:1", False),
        ],
        [],
    )
    assert [w.backups for w in timeline.windows] == [["20261124T010000Z"], ["20261124T020000Z"]]


def test_a_pre_3_0_dump_gets_its_indexes_from_system_indexes(tmp_path: Path) -> None:
    from mongo_lifeboat.mongodump.importer import import_dump
    from mongo_lifeboat.repo.repository import Repository

    db = tmp_path / "dump" / "shop"
    db.mkdir(parents=True)
    (db / "orders.bson").write_bytes(b"".join(bson.encode({"_id": i, "a": i}) for i in range(3)))
    specs = [
        {"v": 1, "key": {"_id": 1}, "name": "_id_", "ns": "shop.orders"},
        {"v": 1, "key": {"a": True}, "name": "a_1", "ns": "shop.orders", "dropDups": True},
        {"v": 1, "key": {"x": 1}, "name": "x_1", "ns": "shop.gone"},  # no such collection: ignored
    ]
    (db / "system.indexes.bson").write_bytes(b"".join(bson.encode(s) for s in specs))
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    report = import_dump(repo, str(tmp_path / "dump"), "old", jobs=1)
    (orders,) = report.manifest.collections
    assert orders.ns == "shop.orders" and orders.documents == 3
    assert [ix["name"] for ix in orders.indexes] == ["_id_", "a_1"]
    a_1 = orders.indexes[1]
    assert a_1["key"] == {"a": {"$numberInt": "1"}} and "dropDups" not in a_1 and "ns" not in a_1
    assert not report.manifest.point_in_time_base


def test_a_huge_block_is_read_in_bounded_batches() -> None:
    docs = [bson.encode({"_id": i, "pad": "p" * 1000}) for i in range(6000)]  # ~6 MiB in one block
    out = io.BytesIO()
    w = ArchiveWriter(
        out, [ArchiveNamespace("d", "c", "{}", "collection")], "7.0.0", "t", block_bytes=64 << 20
    )
    w.write(("d", "c"), docs)
    w.end(("d", "c"))
    batches = _read(out.getvalue())
    assert len(batches) >= 2 and all(sum(map(len, b)) < 5 << 20 for _, b in batches)
    assert [d for _, b in batches for d in b] == docs
