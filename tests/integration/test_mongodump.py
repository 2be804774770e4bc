"""Acceptance (issue 4): mongodump interoperability.

Every real dump in the mongo-tools fixtures imports and restores to what it holds after
its oplog (worked out here independently: the test's own dump reader and a naive oplog
model); corrupt inputs are refused with one clear line; backups survive
export -> import -> restore in both formats, plain and gzip, with content hashes, index
specs and options intact; exported archives are parsed by an independent reader that
checks every CRC.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import MongoClient

from mongo_lifeboat.demo import workload

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.mongodump import DECODE, parse_archive, read_dump, read_file, split_documents
from ..support.servers import SYSTEM_DBS, Server, ServerPool

TESTDATA = "mongorestore/testdata"
DIRECTORY_DUMPS = [
    "collMod_ttl_index",
    "coll_with_index",
    "coll_with_ttl_index",
    "coll_without_index",
    "indextestdump",
    "longcollectionname",
    "oplogdump",
    "prelude_test/prelude_db_target",
    "prelude_test/prelude_top_level",
    "prelude_test/prelude_gzip",
    "prelude_test/server_version_unknown",
    "specialcharacter",
    "timeseries_tests/ts_dump",
    "usersdump",
    # oplog.bson only (mongodump --oplog of an empty deployment, then writes)
    "commit_indexes_build",
    "create_indexes",
    "oplog_ignore_index",
    "oplog_partial_skips",
]
ARCHIVE_DUMPS = ["dump-w-oplog.archive", "test.bar.archive", "timeseries_tests/dump.archive"]
CORRUPT_BSON = [
    "bad_cstring.bson",
    "bad_type.bson",
    "invalid_field_name.bson",
    "partial_file.bson",
    "random_bytes.bson",
]
MOD = 1 << 256
# Index options a pre-3.4 (v:1) spec may carry that createIndexes refuses (mongorestore drops them).
LEGACY_ONLY_OPTIONS = {"safe", "dropDups"}


@pytest.fixture(scope="module")
def target() -> Iterator[Server]:
    pool = ServerPool()
    try:
        yield pool.new()
    finally:
        pool.close()


def _new_repo(path: Path) -> str:
    url = "file://" + str(path)
    created = lifeboat("init", "--repo", url)
    assert created.code == 0, created.stderr
    return url


def _wipe(client: MongoClient[Any]) -> None:
    for db in client.list_database_names():
        if db not in SYSTEM_DBS:
            client.drop_database(db)


def _content_hash(docs: Any) -> tuple[int, str]:
    total, count = 0, 0
    for d in docs:
        raw = d if isinstance(d, bytes) else bson.encode(d)
        total = (total + int.from_bytes(hashlib.sha256(raw).digest(), "big")) % MOD
        count += 1
    return count, f"{total:064x}"


# -- an independent model of "the dump after its oplog" ------------------------------


def _legacy_key(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str | bson.Decimal128):
        return 1
    if isinstance(value, bson.Decimal128):
        return 1 if value.to_decimal() == 0 else value
    return 1 if value in (0, "") else value


def _normal_index(spec: dict[str, Any]) -> tuple[str, str]:
    clean = {k: v for k, v in spec.items() if k not in {"v", "ns", "background", *LEGACY_ONLY_OPTIONS}}
    clean["key"] = [(k, _legacy_key(v)) for k, v in spec["key"].items()]
    # Number types of key values are not compared (1 vs 1.0): the server may normalize them.
    clean["key"] = [(k, float(v) if isinstance(v, int | float) else str(v)) for k, v in clean["key"]]
    return spec["name"], json.dumps(
        bson.json_util.loads(bson.json_util.dumps(clean)), sort_keys=True, default=str
    )


class Expected:
    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.indexes: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def collection(self, key: tuple[str, str]) -> None:
        self.docs.setdefault(key, {})
        self.indexes.setdefault(key, {})

    def apply(self, entry: dict[str, Any]) -> None:
        op, ns = entry["op"], entry["ns"]
        db, _, coll = ns.partition(".")
        if op == "n" or (db in SYSTEM_DBS and not (op == "c" and "applyOps" in entry["o"])):
            return
        key = (db, coll)
        o = entry["o"]
        if op == "i":
            self.collection(key)
            self.docs[key][repr(o["_id"])] = o
        elif op == "d":
            self.docs.get(key, {}).pop(repr(o["_id"]), None)
        elif op == "c":
            name = next(iter(o))
            if name == "applyOps":
                for inner in o["applyOps"]:
                    self.apply(inner)
            elif name == "create":
                self.collection((db, o["create"]))
            elif name == "createIndexes":
                spec = {k: v for k, v in o.items() if k != "createIndexes"}
                self.collection((db, o["createIndexes"]))
                self.indexes[(db, o["createIndexes"])][spec["name"]] = spec
            elif name == "commitIndexBuild":
                for spec in o["indexes"]:
                    self.indexes[(db, o["commitIndexBuild"])][spec["name"]] = spec
            elif name == "collMod":
                change = o.get("index", {})
                spec = self.indexes[(db, o["collMod"])][change["name"]]
                spec.update({k: v for k, v in change.items() if k != "name"})
            elif name not in ("startIndexBuild", "abortIndexBuild"):
                raise NotImplementedError(f"the test's oplog model has no {name!r}")
        else:
            raise NotImplementedError(f"the test's oplog model has no op {op!r}")


def _expected(path: Path) -> Expected:
    content = read_dump(path)
    exp = Expected()
    for (db, coll), meta in content.metadata.items():
        if db in SYSTEM_DBS or meta.get("type") == "view":
            continue
        exp.collection((db, coll))
        exp.indexes[(db, coll)] = {ix["name"]: ix for ix in meta.get("indexes", [])}
    for (db, coll), docs in content.documents.items():
        if db in SYSTEM_DBS or (coll.startswith("system.") and not coll.startswith("system.buckets.")):
            continue
        exp.collection((db, coll))
        for raw in docs:
            doc = bson.decode(raw, DECODE)
            exp.docs[(db, coll)][repr(doc["_id"])] = doc
    for entry in content.oplog:
        exp.apply(entry)
    return exp


def _assert_target_holds(client: MongoClient[Any], exp: Expected) -> None:
    actual_namespaces = {
        (db, c)
        for db in client.list_database_names()
        if db not in SYSTEM_DBS
        for c in client[db].list_collection_names()
    }
    assert actual_namespaces == set(exp.docs), "namespaces differ"
    for (db, coll), docs in exp.docs.items():
        found = client[db].get_collection(coll, codec_options=DECODE).find({})
        assert _content_hash(found) == _content_hash(docs.values()), f"{db}.{coll}: documents differ"
        if coll.startswith("system.buckets."):
            continue
        actual = dict(_normal_index(ix) for ix in client[db][coll].list_indexes())
        wanted = dict(_normal_index(ix) for ix in exp.indexes[(db, coll)].values())
        wanted.setdefault("_id_", actual.get("_id_", ""))
        assert actual == wanted, f"{db}.{coll}: index specs differ"


@pytest.mark.parametrize("dump", DIRECTORY_DUMPS + ARCHIVE_DUMPS)
def test_every_fixture_dump_imports_and_restores_to_its_state_after_the_oplog(
    dump: str, fixtures_dir: Path, target: Server, tmp_path: Path
) -> None:
    path = fixtures_dir / TESTDATA / dump
    repo = _new_repo(tmp_path / "repo")
    imported = lifeboat("import-mongodump", str(path), "--repo", repo, "--json")
    assert imported.code == 0, imported.stderr
    result = imported.json()
    content = read_dump(path)
    assert result["oplog_entries"] == len(content.oplog)
    if path.is_dir():
        has_oplog = (path / "oplog.bson").exists()
    else:
        has_oplog = any(ns["db"] == "" and ns["collection"] == "oplog" for ns in parse_archive(path).prelude)
    assert result["imported_from"]["has_oplog"] is has_oplog
    client = target.client()
    _wipe(client)
    restored = lifeboat("restore", result["backup_id"], "--repo", repo, "--target", target.uri, "--json")
    assert restored.code == 0, restored.stderr
    _assert_target_holds(client, _expected(path))


def test_a_single_collection_file_imports_into_the_named_database(
    fixtures_dir: Path, target: Server, tmp_path: Path
) -> None:
    """hashedIndexes.bson + its metadata.json. SecantusDB has no hashed indexes: there the
    restore must load the documents and then fail clearly on the index build (exit 10)."""
    from ..support.servers import kind

    path = fixtures_dir / TESTDATA / "hashedIndexes.bson"
    repo = _new_repo(tmp_path / "repo")
    imported = lifeboat("import-mongodump", str(path), "--db", "test", "--repo", repo, "--json")
    assert imported.code == 0, imported.stderr
    assert [c["ns"] for c in imported.json()["collections"]] == ["test.hashedIndexes"]
    client = target.client()
    _wipe(client)
    restored = lifeboat("restore", "latest", "--repo", repo, "--target", target.uri)
    expected = _expected(path)
    if kind() == "secantus":
        assert restored.code == 10 and "hashed indexes are not supported" in restored.stderr
        for key, specs in expected.indexes.items():  # it builds the others it was given
            expected.indexes[key] = {n: ix for n, ix in specs.items() if "hashed" not in ix["key"].values()}
    else:
        assert restored.code == 0, restored.stderr
    _assert_target_holds(client, expected)


def test_users_and_roles_are_imported_exactly(fixtures_dir: Path, tmp_path: Path) -> None:
    """SecantusDB cannot take stored credentials, so the check is on the repository's copy."""
    path = fixtures_dir / TESTDATA / "usersdump"
    repo = _new_repo(tmp_path / "repo")
    imported = lifeboat("import-mongodump", str(path), "--repo", repo, "--json").json()
    assert {c["ns"] for c in imported["collections"]} == {"admin.system.users", "admin.system.roles"}
    bid = imported["backup_id"]
    out, archive = tmp_path / "out", tmp_path / "users.archive"
    for fmt, where in (("mongodump-dir", out), ("mongodump-archive", archive)):
        exported = lifeboat("export", bid, "--repo", repo, "--format", fmt, "--out", str(where))
        assert exported.code == 0, exported.stderr
    in_archive = parse_archive(archive).documents
    for name in ("system.users", "system.roles"):
        original = (path / "admin" / f"{name}.bson").read_bytes()
        assert (out / "admin" / f"{name}.bson").read_bytes() == original
        assert b"".join(in_archive[("admin", name)]) == original


@pytest.mark.parametrize(
    "dump",
    ["longcollectionname", "specialcharacter", "timeseries_tests/ts_dump", "collMod_ttl_index", "oplogdump"],
)
def test_export_of_an_imported_dump_reproduces_its_files(
    dump: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """File names (escaping, shortened names), data bytes, metadata and oplog as mongodump wrote them."""
    path = fixtures_dir / TESTDATA / dump
    repo = _new_repo(tmp_path / "repo")
    bid = lifeboat("import-mongodump", str(path), "--repo", repo, "--json").json()["backup_id"]
    out = tmp_path / "out"
    exported = lifeboat(
        "export", bid, "--repo", repo, "--format", "mongodump-dir", "--out", str(out), "--json"
    )
    assert exported.code == 0, exported.stderr
    assert exported.json()["mongorestore"] == f"mongorestore --oplogReplay --dir={out}"
    for original in path.glob("*/*"):
        if original.parent.name == "admin" or original.name == "prelude.json":
            continue  # server state is not imported
        copy = out / original.parent.name / original.name
        assert copy.exists(), f"{copy.name} was not written"
        if original.name.endswith(".bson"):
            assert copy.read_bytes() == original.read_bytes()
        else:
            # Compared as BSON values: old dumps wrote relaxed Extended JSON, ours is canonical.
            ours = bson.json_util.loads(copy.read_text())
            theirs = bson.json_util.loads(original.read_text())
            theirs.pop("options", None) if theirs.get("options") == {} else None
            for spec in theirs["indexes"]:
                spec.pop("ns", None)
            # Older mongodumps wrote no type/collectionName; ours always does (as 100.x).
            added = set(ours) - set(theirs)
            assert added <= {"type", "collectionName"}
            assert {k: v for k, v in ours.items() if k not in added} == theirs
    if (path / "oplog.bson").exists():
        assert (out / "oplog.bson").read_bytes() == (path / "oplog.bson").read_bytes()


# -- refused input ----------------------------------------------------------------


def _assert_refused(result: Any, *words: str) -> None:
    assert result.code == 17, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for w in words:
        assert w in errors[0], errors[0]


def _no_backups(repo: str) -> None:
    listed = lifeboat("list", "--repo", repo, "--json").json()
    assert listed["backups"] == [], "a refused import left something behind"


def test_bad_format_archive_is_refused(fixtures_dir: Path, tmp_path: Path) -> None:
    repo = _new_repo(tmp_path / "repo")
    result = lifeboat("import-mongodump", str(fixtures_dir / TESTDATA / "bad-format.archive"), "--repo", repo)
    _assert_refused(result, "bad-format.archive", "test.ixtest", "not valid Extended JSON")
    _no_backups(repo)


@pytest.mark.parametrize("name", CORRUPT_BSON)
def test_corrupt_bson_files_are_refused(name: str, fixtures_dir: Path, tmp_path: Path) -> None:
    repo = _new_repo(tmp_path / "repo")
    corrupt = fixtures_dir / "bsondump/testdata" / name
    alone = lifeboat("import-mongodump", str(corrupt), "--db", "test", "--repo", repo)
    _assert_refused(alone, name)
    # The same file inside an otherwise good dump directory, after a good collection.
    dump = tmp_path / "dump" / "test"
    dump.mkdir(parents=True)
    (dump / "a_good.bson").write_bytes((fixtures_dir / "bsondump/testdata/sample.bson").read_bytes())
    (dump / "z_bad.bson").write_bytes(corrupt.read_bytes())
    inside = lifeboat("import-mongodump", str(tmp_path / "dump"), "--repo", repo)
    _assert_refused(inside, "test/z_bad.bson")
    _no_backups(repo)


def _mutations(archive: bytes) -> dict[str, tuple[bytes, str]]:
    """Broken copies of a good archive, each with the words its error must contain."""
    first_doc = archive.index(b"\x07_id\x00")  # an ObjectId field inside the body
    return {
        "magic": (b"\x00" + archive[1:], "not a mongodump archive"),
        "truncated": (archive[: len(archive) * 2 // 3], "truncated"),
        "flipped": (
            archive[: first_doc + 8] + bytes([archive[first_doc + 8] ^ 0xFF]) + archive[first_doc + 9 :],
            "CRC-64 mismatch",
        ),
        "no terminator": (archive.replace(b"\xff\xff\xff\xff", b"\xfe\xff\xff\xff", 1), "terminator"),
        "trailing garbage": (archive + b"\x01\x02\x03", "truncated"),
        "truncated gzip": (gzip.compress(archive)[:-40], "cannot read the archive"),
    }


@pytest.mark.parametrize(
    "case", ["magic", "truncated", "flipped", "no terminator", "trailing garbage", "truncated gzip"]
)
def test_damaged_archives_are_refused(case: str, fixtures_dir: Path, tmp_path: Path) -> None:
    repo = _new_repo(tmp_path / "repo")
    good = (fixtures_dir / TESTDATA / "dump-w-oplog.archive").read_bytes()
    data, words = _mutations(good)[case]
    path = tmp_path / "damaged.archive"
    path.write_bytes(data)
    _assert_refused(lifeboat("import-mongodump", str(path), "--repo", repo), "damaged.archive", words)
    _no_backups(repo)


def test_the_independent_reader_agrees_with_the_real_archives(fixtures_dir: Path) -> None:
    """The test's own reader checks every CRC of mongodump's archives (so it can check ours)."""
    for name in ARCHIVE_DUMPS:
        parsed = parse_archive(fixtures_dir / TESTDATA / name)
        assert parsed.crcs_checked >= 2 and parsed.header["version"] == "0.1"


def test_the_independent_reader_refuses_an_end_block_without_an_opening_block(tmp_path: Path) -> None:
    """mongorestore --oplogReplay failed on a lone end block ("archive io error"): the reader
    refuses that shape, and every namespace of the real archives has an opening block."""
    oplog = {"db": "", "collection": "oplog", "metadata": "", "size": 0, "type": ""}
    lone = tmp_path / "lone.archive"
    lone.write_bytes(
        bytes.fromhex("6de29981")
        + bson.encode(
            {"concurrent_collections": 1, "version": "0.1", "server_version": "", "tool_version": ""}
        )
        + bson.encode(oplog)
        + b"\xff\xff\xff\xff"
        + bson.encode({"db": "", "collection": "oplog", "EOF": True, "CRC": bson.Int64(0)})
        + b"\xff\xff\xff\xff"
    )
    with pytest.raises(AssertionError, match="without an opening block"):
        parse_archive(lone)


@pytest.mark.parametrize("gzip", [False, True])
def test_an_exported_archive_with_an_empty_oplog_has_mongodumps_shape(
    gzip: bool, fixtures_dir: Path, tmp_path: Path
) -> None:
    repo = _new_repo(tmp_path / "repo")
    dump = fixtures_dir / TESTDATA / "test.bar.archive"  # no oplog: the bracket is empty
    bid = lifeboat("import-mongodump", str(dump), "--repo", repo, "--json").json()["backup_id"]
    out = tmp_path / "out.archive"
    args = ["--gzip"] if gzip else []
    res = lifeboat("export", bid, "--repo", repo, "--format", "mongodump-archive", "--out", str(out), *args)
    assert res.code == 0, res.stderr
    parsed = parse_archive(out)  # strict: an end block only after an opening block
    assert parsed.crcs_checked == 2 and ("", "oplog") not in parsed.documents


# -- round trips ------------------------------------------------------------------

ODD_NAMES = ["a+b c%d", "x/y:z=w@v&u", "L" * 250]


def _source(servers: ServerPool) -> Server:
    source = servers.new()
    client = source.client()
    workload.seed(client, 300)
    metrics = client.analytics.create_collection(
        "metrics", timeseries={"timeField": "t", "metaField": "m", "granularity": "seconds"}
    )
    metrics.insert_many(
        [{"t": bson.datetime.datetime(2026, 11, 24, 2, i), "m": {"k": i % 3}, "v": i} for i in range(40)]
    )
    metrics.create_index("m.k")
    for i, name in enumerate(ODD_NAMES):
        client.odd[name].insert_many([{"_id": bson.Int64(j), "n": name, "i": i} for j in range(20)])
    return source


@pytest.mark.parametrize("fmt", ["mongodump-dir", "mongodump-archive"])
def test_round_trip_preserves_every_collection(fmt: str, servers: ServerPool, tmp_path: Path) -> None:
    source = _source(servers)
    repo = _new_repo(tmp_path / "repo")
    backed_up = lifeboat("backup", "--source", source.uri, "--repo", repo, "--json")
    assert backed_up.code == 0, backed_up.stderr
    target = servers.new()
    for gz in (False, True):
        out = tmp_path / f"export-{gz}"
        args = ["--gzip"] if gz else []
        exported = lifeboat(
            "export", "latest", "--repo", repo, "--format", fmt, "--out", str(out), *args, "--json"
        )
        assert exported.code == 0, exported.stderr
        _check_export_layout(out, fmt, gz, backed_up.json())
        repo2 = _new_repo(tmp_path / f"repo2-{gz}")
        imported = lifeboat("import-mongodump", str(out), "--repo", repo2, "--json")
        assert imported.code == 0, imported.stderr
        assert imported.json()["imported_from"]["gzip"] is gz
        restored = lifeboat("restore", "latest", "--repo", repo2, "--target", target.uri, "--drop")
        assert restored.code == 0, restored.stderr
        assert assert_same(source.client(), target.client()) >= 8


def _check_export_layout(out: Path, fmt: str, gz: bool, backup: dict[str, Any]) -> None:
    """What the export holds, against the backup's own listing of its namespaces."""
    kinds = {tuple(c["ns"].split(".", 1)): c["type"] for c in backup["collections"]}
    with_data = {k for k, t in kinds.items() if t == "collection"}
    listed_kinds = {k: t for k, t in kinds.items() if not k[1].startswith("system.buckets.")}
    if fmt == "mongodump-archive":
        assert (out.read_bytes()[:2] == b"\x1f\x8b") is gz
        parsed = parse_archive(out)
        listed = {(ns["db"], ns["collection"]): ns["type"] for ns in parsed.prelude}
        assert listed == {**listed_kinds, ("", "oplog"): ""}
        assert set(parsed.documents) - {("", "oplog")} <= with_data
        assert sum(len(d) for k, d in parsed.documents.items() if k[0] != "") == backup["documents"]
        # Every collection (empty ones too), every view (no documents, seen whole, as mongodump
        # writes it) and the oplog end with a checked CRC.
        views = {k for k, t in kinds.items() if t == "view"}
        assert views and parsed.crcs_checked == len(with_data) + len(views) + 1
        return
    suffix = ".gz" if gz else ""
    assert (out / f"prelude.json{suffix}").exists()
    assert ((out / "oplog.bson").read_bytes()[:2] == b"\x1f\x8b") is gz  # gzipped under its plain name
    assert (out / "odd" / f"a+b%20c%25d.bson{suffix}").exists()
    assert (out / "odd" / f"x%2Fy:z=w@v&u.bson{suffix}").exists()
    assert not (out / "shop" / f"big_orders.bson{suffix}").exists()
    assert len(list(out.glob(f"*/*.bson{suffix}"))) == len(with_data)
    assert len(list(out.glob(f"*/*.metadata.json{suffix}"))) == len(listed_kinds)
    total = sum(len(split_documents(read_file(f))) for f in out.glob(f"*/*.bson{suffix}"))
    assert total == backup["documents"]


def test_time_series_archive_exports_buckets_under_their_collection(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    repo = _new_repo(tmp_path / "repo")
    archive = fixtures_dir / TESTDATA / "timeseries_tests/dump.archive"
    bid = lifeboat("import-mongodump", str(archive), "--repo", repo, "--json").json()["backup_id"]
    out = tmp_path / "ts.archive"
    assert (
        lifeboat("export", bid, "--repo", repo, "--format", "mongodump-archive", "--out", str(out)).code == 0
    )
    ours, theirs = parse_archive(out), parse_archive(archive)
    assert {(ns["db"], ns["collection"]): ns["type"] for ns in ours.prelude} == {
        ("timeseries_test", "foo_ts"): "timeseries",
        ("", "oplog"): "",
    }
    key = ("timeseries_test", "system.buckets.foo_ts")
    assert ours.documents[key] == theirs.documents[key]
    assert ours.crcs_checked == 2  # the buckets and the (empty) oplog


def test_export_to_a_point_in_time_equals_restore_to_that_point(servers: ServerPool, tmp_path: Path) -> None:
    """oplog.bson of ``export --to T`` carries the bracket and the archived oplog up to T."""
    from mongo_lifeboat.backup.service import BackupOptions, run_backup
    from mongo_lifeboat.catalog.history import load_history
    from mongo_lifeboat.oplog.segments import iter_entries
    from mongo_lifeboat.repo.repository import Repository

    from ..support.archiving import archiving

    source = servers.new()
    src = source.client()
    workload.seed(src, 300)
    repo_url = "file://" + str(tmp_path / "repo")
    repo = Repository.init(repo_url)
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri):
        writer = workload.Writer(src, 300, rng_seed=5, max_ops=200).start()
        writer.ops_done.wait()
        writer.stop()
    history = load_history(repo)
    base_end = history.manifests[-1].end
    archived = [e["ts"] for e in iter_entries(repo.storage, history.segments) if e["ts"] > base_end]
    assert len(archived) > 100
    point = archived[len(archived) // 2]
    to = f"{point.time}:{point.inc}"

    out = tmp_path / "pitr.archive"
    exported = lifeboat(
        "export", "--to", to, "--repo", repo_url, "--format", "mongodump-archive", "--out", str(out), "--json"
    )
    assert exported.code == 0, exported.stderr
    oplog = [bson.decode(d)["ts"] for d in parse_archive(out).documents[("", "oplog")]]
    assert oplog and max(oplog) < point and archived[len(archived) // 2 - 1] in oplog
    assert exported.json()["oplog_entries"] == len(oplog)

    repo2 = _new_repo(tmp_path / "repo2")
    assert lifeboat("import-mongodump", str(out), "--repo", repo2).code == 0
    via_export, direct = servers.new(), servers.new()
    assert lifeboat("restore", "latest", "--repo", repo2, "--target", via_export.uri).code == 0
    assert lifeboat("restore", "--to", to, "--repo", repo_url, "--target", direct.uri).code == 0
    assert assert_same(via_export.client(), direct.client()) >= 4


def test_an_archive_streams_through_a_pipe(servers: ServerPool, tmp_path: Path) -> None:
    """export --out - | import-mongodump - : no temporary file on either side."""
    import subprocess
    import sys

    source = servers.new()
    workload.seed(source.client(), 100)
    repo, repo2 = _new_repo(tmp_path / "repo"), _new_repo(tmp_path / "repo2")
    assert lifeboat("backup", "--source", source.uri, "--repo", repo).code == 0
    cmd = [sys.executable, "-m", "mongo_lifeboat.cli.main"]
    exporter = subprocess.Popen(
        [*cmd, "export", "--repo", repo, "--format", "mongodump-archive", "--out", "-", "--gzip"],
        stdout=subprocess.PIPE,
    )
    importer = subprocess.run(
        [*cmd, "import-mongodump", "-", "--repo", repo2, "--json"], stdin=exporter.stdout, capture_output=True
    )
    assert exporter.wait() == 0 and importer.returncode == 0, importer.stderr
    assert json.loads(importer.stdout)["imported_from"]["gzip"] is True
    target = servers.new()
    assert lifeboat("restore", "latest", "--repo", repo2, "--target", target.uri).code == 0
    assert_same(source.client(), target.client())


def test_database_users_files_hold_only_that_databases_users(fixtures_dir: Path, tmp_path: Path) -> None:
    """mongodump --db X --dumpDbUsersAndRoles writes X/$admin.system.users.bson; a file there
    with another database's users (say an admin root user) is refused, not restored."""
    repo = _new_repo(tmp_path / "repo")
    users = read_file(fixtures_dir / TESTDATA / "usersdump/admin/system.users.bson")
    user = bson.decode(split_documents(users)[0], DECODE)
    for db, ok in (("reports", True), ("admin_of_nothing", False)):
        dump = tmp_path / f"dump-{db}"
        (dump / db).mkdir(parents=True)
        (dump / db / "c.bson").write_bytes(bson.encode({"_id": 1}))
        mine = {**user, "_id": f"{db}.{user['user']}", "db": db if ok else "admin"}
        (dump / db / "$admin.system.users.bson").write_bytes(bson.encode(mine))
        result = lifeboat("import-mongodump", str(dump), "--repo", repo, "--json")
        if ok:
            assert result.code == 0, result.stderr
            assert {c["ns"] for c in result.json()["collections"]} == {f"{db}.c", "admin.system.users"}
        else:
            _assert_refused(result, "$admin.system.users.bson", "'admin'")


def test_bad_paths_say_what_to_do(fixtures_dir: Path, tmp_path: Path) -> None:
    repo = _new_repo(tmp_path / "repo")
    one_db = fixtures_dir / TESTDATA / "coll_with_index/test"
    result = lifeboat("import-mongodump", str(one_db), "--repo", repo)
    _assert_refused(result, "no database directories")
    assert "pass --db NAME" in result.stderr
    assert lifeboat("import-mongodump", str(one_db), "--db", "test", "--repo", repo).code == 0
    single = lifeboat("import-mongodump", str(fixtures_dir / TESTDATA / "hashedIndexes.bson"), "--repo", repo)
    assert single.code == 2 and "--db" in single.stderr
    missing = lifeboat("import-mongodump", str(tmp_path / "nope"), "--repo", repo)
    assert missing.code == 2 and "no such file" in missing.stderr
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep").write_text("x")
    taken = lifeboat("export", "latest", "--repo", repo, "--format", "mongodump-dir", "--out", str(out))
    assert taken.code == 2 and "already exists" in taken.stderr and (out / "keep").exists()


def test_a_refused_import_that_committed_chunks_leaves_nothing(tmp_path: Path) -> None:
    from mongo_lifeboat.mongodump.importer import import_dump
    from mongo_lifeboat.repo.repository import Repository

    dump = tmp_path / "dump" / "shop"
    dump.mkdir(parents=True)
    docs = [bson.encode({"_id": i, "pad": "x" * 1000}) for i in range(3000)]
    (dump / "a_big.bson").write_bytes(b"".join(docs))  # ~3 MiB: chunks committed first
    (dump / "z_bad.bson").write_bytes(docs[0] + b"\x05\x00\x00\x00\x01")  # then a corrupt file
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    from mongo_lifeboat.errors import DumpInvalid

    with pytest.raises(DumpInvalid):
        import_dump(repo, str(tmp_path / "dump"), "rs0", chunk_bytes=1 << 20, jobs=1)
    assert [o.key for o in repo.storage.list("rs0/")] == []
