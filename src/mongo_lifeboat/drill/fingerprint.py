"""What a drill proved, as a fingerprint: the parts of the plan that decide a recovery, the
shape of the deployment, and Lifeboat's own version.

A drill records the fingerprint it proved; ``lifeboat check`` takes the current one and names
what changed since the last passing drill ("untested since …: an index on shop.orders"), and
the agent then runs a drill once per change. Parts are kept as short digests (a plan's
repository URL or key path never lands in a report), except the server's version, which is
worth reading as it is. A part either side did not know (no plan, a source that did not
answer, no privilege to read users) is not compared: unknown is not a change.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bson import json_util
from pydantic import BaseModel, ConfigDict
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from .. import __version__
from ..config import Plan
from ..mongo import members
from ..mongo.capabilities import version_and_fcv
from ..mongo.catalog import list_source_collections

# Index fields that say nothing a restore must reproduce (the namespace of old servers, and
# the index format version, which a server picks).
_INDEX_NOISE = {"ns", "v"}
_SHOWN_CHANGES = 4


def _digest(value: Any) -> str:
    text = json_util.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Fingerprint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lifeboat: str = __version__
    plan: dict[str, str] | None = None  # part -> digest; None: the drill had no plan
    server: dict[str, str] | None = None  # version, fcv; None: the source did not answer
    members: str | None = None
    collections: dict[str, dict[str, str]] | None = None  # ns -> {"indexes", "options"} digests
    users: dict[str, str] | None = None  # "db.user" -> digest; None: not readable here
    roles: dict[str, str] | None = None

    @property
    def signature(self) -> str:
        """One digest of everything known: a change of any part is a new signature."""
        return _digest(self.model_dump(mode="json"))


def of_plan(plan: Plan) -> dict[str, str]:
    repositories = [
        (
            r.name,
            r.url,
            r.region,
            r.endpoint_url,
            r.storage_class,
            r.object_lock_days,
            r.object_lock_mode,
            (r.keep_last, r.keep_daily, r.keep_weekly, r.recovery_window),
        )
        for r in plan.repository
    ]
    keys = [(r.name, r.key_file, sorted(r.old_key_files), r.kms_key_id) for r in plan.repository]
    return {
        "repositories": _digest(repositories),
        "keys": _digest(keys),
        "capture": _digest((plan.deployment.capture, plan.deployment.member, plan.deployment.key)),
        "schedules": _digest(
            (plan.schedule.base_backup, plan.schedule.drill, plan.snapshot.configured, plan.snapshot.provider)
        ),
        "objectives": _digest((plan.objectives.rpo, plan.objectives.rto)),
    }


def _collections(client: MongoClient[Any]) -> dict[str, dict[str, str]]:
    out = {}
    for c in list_source_collections(client):
        if c.db == "admin" and c.name in ("system.users", "system.roles"):
            continue  # users and roles are their own parts
        indexes = sorted(
            ({k: v for k, v in ix.items() if k not in _INDEX_NOISE} for ix in c.indexes),
            key=lambda ix: str(ix.get("name")),
        )
        out[c.ns] = {"indexes": _digest(indexes), "options": _digest({"type": c.type, **c.options})}
    return out


def _principals(client: MongoClient[Any], collection: str) -> dict[str, str] | None:
    """Users or roles by id ("db.name"), each a digest of what it may do (never of its credentials)."""
    try:
        found = client.admin[collection].find({}, {"credentials": 0})
        return {str(d["_id"]): _digest(d) for d in found}
    except OperationFailure:
        return None  # no privilege to read them: not known, so not compared


def of_deployment(client: MongoClient[Any]) -> dict[str, Any]:
    """The deployment's parts of a fingerprint (raises PyMongoError when the source fails)."""
    version, fcv = version_and_fcv(client)
    return {
        "server": {"version": version, "fcv": fcv or "?"},
        "members": _digest(sorted(m.host for m in members.discover(client))),
        "collections": _collections(client),
        "users": _principals(client, "system.users"),
        "roles": _principals(client, "system.roles"),
    }


def take(plan_parts: dict[str, str] | None, source: MongoClient[Any]) -> Fingerprint:
    """The fingerprint now (``plan_parts``: ``of_plan`` of a plan file, None without one); the
    parts the source does not answer stay unknown."""
    try:
        deployment = of_deployment(source)
    except PyMongoError:
        deployment = {}
    return Fingerprint(plan=plan_parts, **deployment)


def _named(before: dict[str, str], after: dict[str, str], what: str) -> list[str]:
    out = [f"{what} {k} added" for k in sorted(after.keys() - before.keys())]
    out += [f"{what} {k} removed" for k in sorted(before.keys() - after.keys())]
    out += [f"{what} {k} changed" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return out


def _collection_changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    out = [f"collection {ns} added" for ns in sorted(after.keys() - before.keys())]
    out += [f"collection {ns} dropped" for ns in sorted(before.keys() - after.keys())]
    for ns in sorted(before.keys() & after.keys()):
        out += [
            f"the {part} of {ns}" for part in ("indexes", "options") if before[ns][part] != after[ns][part]
        ]
    return out


def changes(proved: Fingerprint, now: Fingerprint) -> list[str]:
    """What changed since ``proved``, in words, of the parts both sides know."""
    out: list[str] = []
    if proved.lifeboat != now.lifeboat:
        out.append(f"Lifeboat {proved.lifeboat} → {now.lifeboat}")
    if proved.plan is not None and now.plan is not None:
        out += [f"the plan's {part}" for part in proved.plan if proved.plan[part] != now.plan.get(part)]
    if proved.server is not None and now.server is not None:
        out += [
            f"server {k} {proved.server.get(k)} → {now.server.get(k)}"
            for k in ("version", "fcv")
            if proved.server.get(k) != now.server.get(k)
        ]
    if proved.members is not None and now.members is not None and proved.members != now.members:
        out.append("the replica set's members")
    if proved.collections is not None and now.collections is not None:
        out += _collection_changes(proved.collections, now.collections)
    for what, a, b in (("user", proved.users, now.users), ("role", proved.roles, now.roles)):
        if a is not None and b is not None:
            out += _named(a, b, what)
    return out


def described(found: list[str]) -> str:
    """The changes for one line: the first few, then how many more."""
    shown = ", ".join(found[:_SHOWN_CHANGES])
    more = len(found) - _SHOWN_CHANGES
    return shown + (f" and {more} more" if more > 0 else "")
