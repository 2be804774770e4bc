"""Whole-collection comparisons for tests (content hashes, not counts)."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from mongo_lifeboat.verify.compare import compare, summarize


def assert_same(a: MongoClient[Any], b: MongoClient[Any]) -> int:
    """Fail with every difference listed; return how many namespaces were compared."""
    sa, sb = summarize(a), summarize(b)
    diffs = compare(sa, sb)
    assert not diffs, "\n".join(diffs)
    assert sa, "nothing was compared"
    return len(sa)


def stream_shows(entries: Any) -> list[tuple[Any, str, str]]:
    """The writes a change stream shows, in order, as (ts, op, ns): user collections' inserts,
    updates and deletes, a transaction's flattened (SecantusDB logs its writes one by one, the
    stream gives them whole)."""
    out = []
    for e in entries:
        inner = e["o"].get("applyOps") if e["op"] == "c" else None
        for op in inner if inner is not None else [e]:
            if op["op"] in "iud" and op["ns"].split(".", 1)[0] not in ("admin", "config", "local"):
                out.append((e["ts"], op["op"], op["ns"]))
    return out
