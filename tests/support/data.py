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
