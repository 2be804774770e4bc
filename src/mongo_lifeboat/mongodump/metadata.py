"""``<collection>.metadata.json``: options, index specs, uuid, real name and type.

Read leniently where mongodump itself changed over the years (relaxed or canonical
Extended JSON, ``ns`` in index specs, no ``type`` or ``collectionName`` before 4.x),
strictly where a wrong guess would lose data (invalid JSON, wrong shapes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bson import Decimal128, Int64, json_util

from ..ejson import loads as ejson_loads
from ..errors import DumpInvalid

KINDS = ("collection", "view", "timeseries")

# Index options that createIndexes accepts for a v:1 (pre-3.4) index; anything else in an
# old dump ("safe", "dropDups", ...) is dropped, as mongorestore does.
_LEGACY_INDEX_OPTIONS = {
    "2dsphereIndexVersion",
    "background",
    "bits",
    "bucketSize",
    "coarsestIndexedLevel",
    "collation",
    "default_language",
    "expireAfterSeconds",
    "finestIndexedLevel",
    "key",
    "language_override",
    "max",
    "min",
    "name",
    "ns",
    "partialFilterExpression",
    "sparse",
    "storageEngine",
    "textIndexVersion",
    "unique",
    "v",
    "weights",
    "wildcardProjection",
}


@dataclass
class DumpMetadata:
    name: str | None  # collectionName, when the dump has it
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    uuid: str | None = None
    conversions: list[str] = field(default_factory=list)  # legacy index specs that were fixed


def _legacy_key_value(value: Any) -> Any:
    """Before 3.4 any key value that was not a negative number or a string meant 1."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 1 if value == 0 else value
    if isinstance(value, Decimal128):
        return 1 if value.to_decimal() == 0 else value
    if isinstance(value, str):
        return 1 if value == "" else value
    return 1


def fix_index(spec: dict[str, Any], where: str, conversions: list[str]) -> dict[str, Any]:
    key = spec.get("key")
    if not isinstance(key, dict) or not key or not isinstance(spec.get("name"), str):
        raise DumpInvalid(f"{where}: an index spec has no key or name: {json_util.dumps(spec)[:200]}")
    fixed_key = {k: _legacy_key_value(v) for k, v in key.items()}
    out = {k: v for k, v in spec.items() if k != "ns"}
    # Compare types too: True == 1 in Python, but not to createIndexes.
    if any(type(a) is not type(b) or a != b for a, b in zip(fixed_key.values(), key.values(), strict=True)):
        out["key"] = fixed_key
        conversions.append(
            f"{where}: index {spec['name']} key {json_util.dumps(key)} -> {json.dumps(fixed_key)}"
        )
    version = spec.get("v", 2)
    if isinstance(version, int | float | Int64) and int(version) == 1:
        dropped = sorted(k for k in out if k not in _LEGACY_INDEX_OPTIONS)
        if dropped:
            out = {k: v for k, v in out.items() if k in _LEGACY_INDEX_OPTIONS}
            conversions.append(f"{where}: index {spec['name']} options {dropped} dropped (not valid for v:1)")
    return out


def parse_metadata(text: str, where: str) -> DumpMetadata:
    """Parse a metadata document; ``where`` names the file (or archive entry) in errors."""
    try:
        doc = ejson_loads(text) if text.strip() else {}
    except (ValueError, TypeError) as e:
        raise DumpInvalid(f"{where}: the metadata is not valid Extended JSON ({e})") from e
    if not isinstance(doc, dict):
        raise DumpInvalid(f"{where}: the metadata is not a JSON object")
    options = {} if doc.get("options") is None else doc["options"]
    indexes = [] if doc.get("indexes") is None else doc["indexes"]
    if not isinstance(options, dict) or not isinstance(indexes, list):
        raise DumpInvalid(f"{where}: 'options' must be an object and 'indexes' a list")
    kind = doc.get("type") or ("view" if "viewOn" in options else "collection")
    if kind not in KINDS:
        raise DumpInvalid(f"{where}: unknown collection type {kind!r} (expected one of {', '.join(KINDS)})")
    name = doc.get("collectionName")
    if name is not None and not isinstance(name, str):
        raise DumpInvalid(f"{where}: 'collectionName' is not a string")
    uuid = doc.get("uuid")
    conversions: list[str] = []
    specs = [fix_index(dict(ix), where, conversions) for ix in indexes if isinstance(ix, dict)]
    if len(specs) != len(indexes):
        raise DumpInvalid(f"{where}: an index spec is not an object")
    return DumpMetadata(
        name=name,
        type=kind,
        options=dict(options),
        indexes=specs if kind != "view" else [],
        uuid=uuid if isinstance(uuid, str) else None,
        conversions=conversions,
    )


def render_metadata(
    name: str, kind: str, options: dict[str, Any], indexes: list[dict[str, Any]], uuid: str | None
) -> str:
    """The metadata.json text mongodump 100.x writes (canonical Extended JSON, compact).

    ``options`` and ``indexes`` are already canonical Extended JSON (as in a manifest).
    """
    doc: dict[str, Any] = {}
    if options:
        doc["options"] = options
    doc["indexes"] = indexes
    if uuid:
        doc["uuid"] = uuid
    doc["collectionName"] = name
    doc["type"] = kind
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
