"""Fuzz the parsers that read what others wrote (run on demand, never as a test).

Each target is fed generated inputs (hypothesis: random bytes and text, and mutations of a
valid example) for ``--seconds``; every input must end in Lifeboat's own error (a
LifeboatError: one line, an exit code) or succeed — any other exception is a crash, printed
with its input. Targets: manifests (as a repository lists them), mongodump archives, BSON
object streams, segment names (as the timeline lists them), plan files.

    python bench/fuzz_parsers.py --seconds 600        # ten minutes per target
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mongo_lifeboat.config import load_plan
from mongo_lifeboat.errors import LifeboatError
from mongo_lifeboat.mongodump.archive import ArchiveReader
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.repo.objects import iter_bson
from mongo_lifeboat.repo.repository import Repository

MANIFEST = json.dumps(
    {
        "format": 1,
        "tool_version": "0.1.0",
        "backup_id": "20261124T021300Z",
        "deployment": "rs0",
        "member": "db1:27017",
        "server_version": "8.0.0",
        "started_at": "2026-11-24T02:13:00Z",
        "finished_at": "2026-11-24T02:14:00Z",
        "duration_s": 60.0,
        "start_ts": "1795504330:1",
        "end_ts": "1795504390:7",
        "collections": [
            {
                "db": "shop",
                "name": "orders",
                "files": [
                    {
                        "key": "rs0/backups/20261124T021300Z/data/shop/orders.0.bson.zst",
                        "size": 9,
                        "sha256": "00",
                    }
                ],
            }
        ],
        "oplog": {
            "start_ts": "1795504330:1",
            "end_ts": "1795504390:7",
            "entries": 0,
            "file": {"key": "rs0/backups/20261124T021300Z/oplog/x.bson.zst", "size": 1, "sha256": "00"},
        },
    }
).encode()
ARCHIVE = (
    b"\x6d\xe2\x99\x81"
    + bson.encode({"version": "0.1", "server_version": "8.0.0", "tool_version": "100.9"})
    + bson.encode({"db": "shop", "collection": "orders", "metadata": "{}", "size": 0, "type": "collection"})
    + b"\xff\xff\xff\xff"
    + bson.encode({"db": "shop", "collection": "orders", "EOF": False, "CRC": 0})
    + bson.encode({"_id": 1})
    + b"\xff\xff\xff\xff"
)
PLAN = b'[deployment]\nsource = "mongodb://db1"\n[[repository]]\nurl = "file:///tmp/x"\nkeep_last = 3\n[objectives]\nrpo = "5m"\n'


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, and the valid example with bytes flipped, cut or spliced."""

    def mutate(data: tuple[int, int, bytes, bool]) -> bytes:
        at, cut, insert, truncate = data
        at %= max(len(seed), 1)
        out = seed[:at] + insert + seed[at + cut :]
        return out[: at + 1] if truncate else out

    return st.one_of(
        st.binary(max_size=2048),
        st.tuples(st.integers(0, 10_000), st.integers(0, 16), st.binary(max_size=16), st.booleans()).map(
            mutate
        ),
    )


def _manifest(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        Repository.init("file://" + root)
        path = Path(root) / "rs0" / "backups" / "20261124T021300Z" / "manifest.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        Repository.open("file://" + root).list_backups()  # damage is a listing, never an exception


def _archive(data: bytes) -> None:
    reader = ArchiveReader(io.BytesIO(data), "fuzz.archive")
    for _ in reader.blocks():
        pass


def _bson_stream(data: bytes) -> None:
    for _ in iter_bson(io.BytesIO(data), "fuzz.bson.zst"):
        pass


def _segment_name(name: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        storage = FileStorage(Path(root))
        key = f"rs0/oplog/20261124/{name}"
        try:
            storage.put(key, io.BytesIO(b""))
        except (ValueError, OSError):
            return  # not a name a storage would hold
        list_segments(storage, "rs0")


def _plan(data: bytes) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=".toml", delete=False) as f:
        f.write(data)
    try:
        load_plan(Path(f.name))
    finally:
        Path(f.name).unlink()


TARGETS: dict[str, tuple[Callable[[object], None], st.SearchStrategy[object]]] = {
    "manifest": (_manifest, _mutations(MANIFEST)),  # type: ignore[dict-item]
    "mongodump archive": (_archive, _mutations(ARCHIVE)),  # type: ignore[dict-item]
    "bson stream": (_bson_stream, _mutations(bson.encode({"a": 1}) * 3)),  # type: ignore[dict-item]
    "segment name": (
        _segment_name,  # type: ignore[dict-item]
        st.one_of(
            st.text(max_size=120),
            st.from_regex(r"[0-9a-f]{16}-[0-9a-f]{16}(\.[0-9a-z]{1,70}){0,6}\.bson\.zst", fullmatch=True),
        ),
    ),
    "plan file": (_plan, _mutations(PLAN)),  # type: ignore[dict-item]
}


def fuzz(name: str, seconds: float) -> tuple[int, list[str]]:
    target, strategy = TARGETS[name]
    tried, crashes = 0, []

    @settings(max_examples=500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def once(value: object) -> None:
        nonlocal tried
        tried += 1
        try:
            target(value)
        except LifeboatError:
            pass  # a clean, one-line error with an exit code
        except Exception:
            if len(crashes) < 20:
                crashes.append(f"{value!r:.200}\n{traceback.format_exc(limit=3)}")

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        once()
    return tried, crashes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600.0, help="per target")
    ap.add_argument("--only", choices=sorted(TARGETS), default=None)
    args = ap.parse_args()
    total = 0
    for name in [args.only] if args.only else TARGETS:
        tried, crashes = fuzz(name, args.seconds)
        total += len(crashes)
        print(f"{name}: {tried} inputs in {args.seconds:g}s, {len(crashes)} crash(es)")
        for c in crashes[:3]:
            print("  " + c.replace("\n", "\n  "))
    print(f"crashes: {total}")


if __name__ == "__main__":
    main()
