"""Compare two deployments: per collection count, order-independent content hash,
index specs, options; views by definition.

The content hash is the sum modulo 2**256 of the sha256 of every document's raw
BSON bytes: independent of document order, sensitive to any byte (field order
and BSON types included), and streamable from raw cursor batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.errors import InvalidName

from ..mongo.indexes import comparable_all
from ..mongo.nsmap import NamespaceMap

SYSTEM_DATABASES = {"admin", "local", "config"}
_MOD = 1 << 256


def hash_raw_batches(batches: Iterable[bytes]) -> tuple[int, str]:
    """(documents, hex content hash) of back-to-back BSON documents."""
    total = 0
    count = 0
    for raw in batches:
        view = memoryview(raw)
        pos, end = 0, len(raw)
        while pos < end:
            n = int.from_bytes(view[pos : pos + 4], "little")
            total = (total + int.from_bytes(hashlib.sha256(view[pos : pos + n]).digest(), "big")) % _MOD
            pos += n
            count += 1
    return count, f"{total:064x}"


@dataclass
class CollectionSummary:
    ns: str
    type: str
    count: int = 0
    content_hash: str = ""
    indexes: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


def summarize(
    client: MongoClient[Any], nsmap: NamespaceMap | None = None, contents: bool = True
) -> dict[str, CollectionSummary]:
    """Summaries of every user namespace (system databases excluded); without ``contents``,
    only their structure (type, options, indexes), without reading a document."""
    out: dict[str, CollectionSummary] = {}
    for db in sorted(client.list_database_names()):
        if db in SYSTEM_DATABASES:
            continue
        for info in client[db].list_collections():
            name, ctype = info["name"], info.get("type", "collection")
            ns = f"{db}.{name}"
            if name.startswith("system.") and not name.startswith("system.buckets."):
                continue
            if nsmap is not None and not nsmap.selected(ns):
                continue
            try:
                client[db][name]
            except InvalidName:
                continue  # a name the driver cannot address (the backup leaves it out, named)
            s = CollectionSummary(ns, ctype, options=dict(info.get("options", {})))
            if ctype != "view":
                coll = client[db][name]
                if contents:
                    s.count, s.content_hash = hash_raw_batches(coll.find_raw_batches({}))
                s.indexes = comparable_all(list(coll.list_indexes()))
            out[ns] = s
    return out


def compare(a: dict[str, CollectionSummary], b: dict[str, CollectionSummary]) -> list[str]:
    """Human-readable differences; empty when equal."""
    diffs = []
    for ns in sorted(set(a) | set(b)):
        if ns not in b:
            diffs.append(f"{ns}: only in A")
            continue
        if ns not in a:
            diffs.append(f"{ns}: only in B")
            continue
        x, y = a[ns], b[ns]
        if x.type != y.type:
            diffs.append(f"{ns}: type {x.type} != {y.type}")
        if x.count != y.count:
            diffs.append(f"{ns}: count {x.count} != {y.count}")
        elif x.content_hash != y.content_hash:
            diffs.append(f"{ns}: content differs (same count {x.count})")
        if x.indexes != y.indexes:
            diffs.append(f"{ns}: indexes differ: {x.indexes} != {y.indexes}")
        if x.options != y.options:
            diffs.append(f"{ns}: options differ: {x.options} != {y.options}")
    return diffs
