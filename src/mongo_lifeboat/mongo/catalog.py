"""What a backup contains: the namespaces mongodump would dump, with their metadata."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bson import Binary
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import InvalidName, OperationFailure

# Databases that are the server's own; admin is handled by name below.
SKIP_DATABASES = {"local", "config"}
AUTH_COLLECTIONS = ("system.users", "system.roles")
BUCKETS = "system.buckets."  # a time-series collection's data lives in system.buckets.<name>


@dataclass
class SourceCollection:
    db: str
    name: str
    type: str  # collection | view | timeseries
    options: dict[str, Any]
    indexes: list[dict[str, Any]] = field(default_factory=list)
    uuid: str | None = None
    expected_documents: int = 0  # from the previous backup, for progress only (0: unknown)
    expected_bytes: int = 0

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    @property
    def has_data(self) -> bool:
        return self.type != "view" and self.type != "timeseries"


def _uuid_hex(info: dict[str, Any]) -> str | None:
    u = info.get("uuid")
    if isinstance(u, Binary):
        return bytes(u).hex()
    return u.hex if isinstance(u, uuid.UUID) else None


def _keep(name: str) -> bool:
    """System collections are the server's, except time-series buckets (their data) and system.js."""
    return not name.startswith("system.") or name.startswith(BUCKETS) or name == "system.js"


@dataclass(frozen=True)
class Skipped:
    """A collection the backup leaves out, named, with why (the rest is backed up)."""

    ns: str
    reason: str


def unusable_name(database: Database[Any], name: str) -> str | None:
    """Why the driver cannot address ``name`` in ``database`` (a server may accept names
    drivers refuse, such as ``x..y``); None when it can. Checks the name only: no request."""
    try:
        database[name]
    except InvalidName as e:
        return f"the driver refuses its name ({e})"
    return None


def list_source_collections(
    client: MongoClient[Any], skipped: list[Skipped] | None = None
) -> list[SourceCollection]:
    """Every namespace to back up; those that cannot be are appended to ``skipped`` (never
    fatal: one oddly named collection must not stop the backup of everything else)."""
    out: list[SourceCollection] = []
    skipped = skipped if skipped is not None else []
    for db in sorted(client.list_database_names()):
        if db in SKIP_DATABASES:
            continue
        database = client[db]
        for info in database.list_collections():
            name, ctype = info["name"], info.get("type", "collection")
            if db == "admin" and ctype == "collection" and not name.startswith(BUCKETS):
                continue  # admin holds server state; users and roles are added below
            if not _keep(name):
                continue
            why = unusable_name(database, name)
            if why is not None:
                skipped.append(Skipped(f"{db}.{name}", why))
                continue
            coll = SourceCollection(
                db=db,
                name=name,
                type=ctype,
                options=dict(info.get("options", {})),
                uuid=_uuid_hex(info.get("info", {})),
            )
            if ctype != "view":
                coll.indexes = [dict(ix) for ix in database[name].list_indexes()]
            out.append(coll)
    out.extend(_auth_collections(client))
    return out


def _auth_collections(client: MongoClient[Any]) -> list[SourceCollection]:
    """admin.system.users / system.roles, when the server lets us read them."""
    found = []
    for name in AUTH_COLLECTIONS:
        try:
            present = client.admin[name].find_one({}, {"_id": 1}) is not None
        except OperationFailure:
            continue  # no privilege to read them: the backup simply has no users/roles
        if present:
            found.append(SourceCollection("admin", name, "collection", {}, []))
    return found
