"""mongodump import/export throughput vs their I/O ceilings, side by side in one run.

No server is needed: a synthetic mongodump directory (N documents over 4 collections,
mixed field types) is written first. Then, on the same files and repository disk:

- import-mongodump (directory and archive) vs the ceiling: read the same .bson files,
  zstd-compress and store them as repository objects, no BSON checks;
- export (directory and archive) vs the ceiling: read the backup's objects (sha256 checked,
  decompressed) and write their bytes to one file, no framing.

Ratios are printed last; 1.0 means "as fast as moving the bytes".
"""

from __future__ import annotations

import argparse
import datetime
import random
import shutil
import tempfile
import time
from pathlib import Path

import bson

from mongo_lifeboat.mongodump.exporter import ExportSource, export_archive, export_directory
from mongo_lifeboat.mongodump.importer import import_dump
from mongo_lifeboat.repo.objects import ObjectWriter, iter_bson, open_verified
from mongo_lifeboat.repo.repository import Repository


def make_dump(root: Path, docs: int) -> int:
    rng = random.Random(1)
    total = 0
    for c in range(4):
        (root / "bench").mkdir(parents=True, exist_ok=True)
        with (root / "bench" / f"c{c}.bson").open("wb") as f:
            for i in range(docs // 4):
                doc = {
                    "_id": bson.ObjectId(),
                    "i": i,
                    "price": rng.random() * 100,
                    "name": f"customer {rng.randrange(10**6)}",
                    "tags": [rng.choice("abcdef") for _ in range(5)],
                    "at": datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=i),
                    "nested": {"a": {"b": rng.randrange(1000), "c": "x" * rng.randrange(50)}},
                }
                raw = bson.encode(doc)
                total += len(raw)
                f.write(raw)
        (root / "bench" / f"c{c}.metadata.json").write_text(
            '{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],'
            f'"collectionName":"c{c}","type":"collection"}}'
        )
    return total


def ceiling_import(dump: Path, repo: Repository) -> float:
    t = time.perf_counter()
    for i, f in enumerate(sorted(dump.glob("*/*.bson"))):
        w = ObjectWriter(repo.storage, f"ceiling/{i}.bson.zst")
        with f.open("rb") as src:
            while chunk := src.read(4 << 20):
                w.write(chunk)
        w.commit()
    return time.perf_counter() - t


def ceiling_export(repo: Repository, backup_id: str, out: Path) -> float:
    m = repo.resolve(backup_id)
    t = time.perf_counter()
    with out.open("wb") as f:
        for c in m.collections:
            for entry in c.files:
                with open_verified(repo.storage, entry) as stream:
                    for batch in iter_bson(stream, entry.key):
                        f.write(b"".join(batch))
    return time.perf_counter() - t


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=400_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lifeboat-bench-dump-"))
    try:
        dump = work / "dump"
        raw = make_dump(dump, args.docs)
        mib = raw / 2**20
        repo = Repository.init("file://" + str(work / "repo"))
        results: dict[str, float] = {}
        results["ceiling import"] = ceiling_import(dump, repo)
        ids: dict[str, str] = {}

        def do_import(path: Path, label: str) -> None:
            ids[label] = import_dump(repo, str(path), f"bench-{label}").manifest.backup_id

        results["import dir"] = timed(lambda: do_import(dump, "dir"))
        src = ExportSource(repo.storage, repo.resolve(ids["dir"], "bench-dir"))
        results["ceiling export"] = ceiling_export(repo, ids["dir"], work / "ceiling.bson")
        results["export dir"] = timed(lambda: export_directory(src, work / "out-dir", False))
        results["export archive"] = timed(lambda: export_archive(src, str(work / "out.archive"), False))
        results["export archive gzip"] = timed(
            lambda: export_archive(src, str(work / "out.archive.gz"), True)
        )
        results["import archive"] = timed(lambda: do_import(work / "out.archive", "archive"))
        results["import archive gzip"] = timed(lambda: do_import(work / "out.archive.gz", "archivegz"))
        print(f"{args.docs} documents, {mib:.1f} MiB of BSON")
        for k, v in results.items():
            print(f"  {k:<22} {v:7.2f} s  {mib / v:7.1f} MiB/s")
        print("ratios (throughput / ceiling; 1.0 = as fast as moving the bytes):")
        for k in ("import dir", "import archive"):
            print(f"  {k:<22} {results['ceiling import'] / results[k]:.2f}")
        for k in ("export dir", "export archive"):
            print(f"  {k:<22} {results['ceiling export'] / results[k]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
