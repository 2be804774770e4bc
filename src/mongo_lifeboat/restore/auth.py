"""Users and roles (``--with-users``).

mongod: the documents go into temporary collections and ``_mergeAuthzCollections``
merges them, credentials included (what mongorestore does). Servers without that
command get roles through ``createRole``; users cannot be recreated there without
their passwords, so the restore says so instead of pretending.
"""

from __future__ import annotations

from typing import Any

import bson
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ..errors import RestoreFailed
from ..mongo.codec import CODEC
from ..remedies import Remedy
from ..repo.objects import read_documents
from ..repo.storage import Storage
from .plan import CollectionTask

_COMMAND_NOT_FOUND = 59
_TEMP = {"admin.system.users": "lifeboat_tempusers", "admin.system.roles": "lifeboat_temproles"}


def _documents(storage: Storage, task: CollectionTask) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for entry in task.entry.files:
        for batch in read_documents(storage, entry):
            docs.extend(bson.decode(raw, codec_options=CODEC) for raw in batch)
    return docs


def restore_auth(target: MongoClient[Any], storage: Storage, tasks: list[CollectionTask]) -> int:
    by_ns = {t.source_ns: _documents(storage, t) for t in tasks}
    admin = target.admin
    try:
        for ns, docs in by_ns.items():
            admin[_TEMP[ns]].drop()
            if docs:
                admin[_TEMP[ns]].insert_many(docs)
        command: dict[str, Any] = {"_mergeAuthzCollections": 1, "drop": False, "db": ""}
        if "admin.system.users" in by_ns:
            command["tempUsersCollection"] = f"admin.{_TEMP['admin.system.users']}"
        if "admin.system.roles" in by_ns:
            command["tempRolesCollection"] = f"admin.{_TEMP['admin.system.roles']}"
        admin.command(command)
    except OperationFailure as e:
        if e.code != _COMMAND_NOT_FOUND:
            raise RestoreFailed(f"restoring users and roles failed: {e}") from e
        return _restore_without_merge(target, by_ns)
    finally:
        for name in _TEMP.values():
            admin[name].drop()
    return sum(len(d) for d in by_ns.values())


def _restore_without_merge(target: MongoClient[Any], by_ns: dict[str, list[dict[str, Any]]]) -> int:
    done = 0
    for role in by_ns.get("admin.system.roles", []):
        db = target[role["db"]]
        spec = {"privileges": role.get("privileges", []), "roles": role.get("roles", [])}
        try:
            db.command("createRole", role["role"], **spec)
        except OperationFailure:
            db.command("updateRole", role["role"], **spec)
        done += 1
    users = by_ns.get("admin.system.users", [])
    if users:
        names = ", ".join(f"{u['db']}.{u['user']}" for u in users[:5])
        raise RestoreFailed(
            f"the target cannot take stored credentials (no _mergeAuthzCollections): "
            f"{len(users)} user(s) not restored ({names}); {done} role(s) were restored",
            "recreate those users with createUser, or {do}",
            Remedy("without-users"),
        )
    return done
