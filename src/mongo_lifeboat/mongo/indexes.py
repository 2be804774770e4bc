"""Index specs as the server reports them (``listIndexes``, the oplog, a backup's metadata),
made fit to create again and to compare."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

# Fields listIndexes or the oplog may carry that createIndexes must not receive.
_STRIP = {"ns", "background", "entryFormat", "buildUUID"}


def clean_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec createIndexes accepts."""
    return {k: v for k, v in spec.items() if k not in _STRIP}


def comparable(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec as two deployments holding the same index agree on it (the index version ``v``
    is the server's choice, not the index's)."""
    return {k: v for k, v in clean_spec(spec).items() if k != "v"}


def comparable_all(specs: list[Any]) -> list[dict[str, Any]]:
    return sorted((comparable(dict(ix)) for ix in specs), key=lambda ix: ix["name"])


def indexes_of(client: MongoClient[Any], ns: str) -> list[dict[str, Any]]:
    """The indexes of ``ns`` on ``client``, comparable, by name."""
    db, coll = ns.split(".", 1)
    return comparable_all(list(client[db][coll].list_indexes()))
