"""One namespace at a moment, as documents for people and spreadsheets: JSON lines (relaxed
Extended JSON, what mongoimport reads) or CSV.

The moment is restored into a scratch server first (the namespace alone, through the same
restore every other command uses), so ``--query`` is MongoDB's own query language, answered by
a server, not an imitation of it."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from bson import Decimal128, ObjectId, json_util
from bson.codec_options import DatetimeConversion
from pymongo import MongoClient

from ..catalog.points import Point
from ..embedded import ScratchServer
from ..events import Reporter, silent
from ..mongo.client import connect
from ..mongo.nsmap import NamespaceMap
from ..repo.repository import Repository
from ..restore.pitr import choose_restore
from ..restore.service import RestoreOptions, RestoreReport, run_restore

_JSON = {
    mode: json_util.JSONOptions(
        json_mode=mode, datetime_conversion=DatetimeConversion.DATETIME_AUTO, document_class=dict
    )
    for mode in (json_util.JSONMode.RELAXED, json_util.JSONMode.CANONICAL)
}


@contextmanager
def restored_moment(
    repo: Repository,
    backup_id: str,
    point: Point | None,
    deployment: str | None,
    namespaces: tuple[str, ...],
    jobs: int = 4,
    report: Reporter = silent,
) -> Iterator[tuple[MongoClient[Any], RestoreReport]]:
    """A scratch server holding ``namespaces`` as they were at ``point`` (or at the backup)."""
    plan, pitr = choose_restore(repo, backup_id, point, deployment, NamespaceMap.build(include=namespaces))
    with ScratchServer() as server:
        client = connect(server.uri, role="staging")
        try:
            yield client, run_restore(repo, plan, client, RestoreOptions(jobs=jobs), report, pitr)
        finally:
            client.close()


def write_jsonl(documents: Iterable[dict[str, Any]], out: TextIO, canonical: bool = False) -> int:
    """One Extended JSON document per line; relaxed (numbers as numbers) unless ``canonical``
    (every BSON number type kept exactly)."""
    options = _JSON[json_util.JSONMode.CANONICAL if canonical else json_util.JSONMode.RELAXED]
    n = 0
    for doc in documents:
        out.write(json_util.dumps(doc, json_options=options) + "\n")
        n += 1
    return n


def write_csv(documents: Iterable[dict[str, Any]], out: TextIO, fields: list[str]) -> int:
    """A header of ``fields`` (dotted paths reach into sub-documents), then one row each:
    strings as they are, dates in ISO 8601, ObjectIds as hex, other values as relaxed JSON."""
    writer = csv.writer(out)
    writer.writerow(fields)
    n = 0
    for doc in documents:
        writer.writerow([_cell(_at(doc, field)) for field in fields])
        n += 1
    return n


def fields_of(documents: Iterable[dict[str, Any]]) -> list[str]:
    """Every top-level field, in the order first seen (``_id`` first)."""
    seen: dict[str, None] = {"_id": None}
    for doc in documents:
        seen.update(dict.fromkeys(doc))
    return list(seen)


_MISSING = object()


def _at(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return _MISSING
    return doc


def _cell(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # BSON dates are UTC, read naive or not
        return value.replace(tzinfo=value.tzinfo or UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, ObjectId | Decimal128):
        return str(value)
    return json_util.dumps(value, json_options=_JSON[json_util.JSONMode.RELAXED])
