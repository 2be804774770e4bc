"""What identifies a replica set beyond its name (``rs0`` is everywhere)."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..repo.manifest import SourceIdentity


def read_identity(client: MongoClient[Any]) -> SourceIdentity:
    """The set's ``replicaSetId`` (from its config, where the server and the user's role allow
    reading it) and the hosts it lists as members."""
    hello = client.admin.command("hello")
    hosts = sorted({*hello.get("hosts", []), *hello.get("passives", [])})
    replica_set_id = None
    try:
        config = client.admin.command("replSetGetConfig")["config"]
        rid = (config.get("settings") or {}).get("replicaSetId")
        replica_set_id = str(rid) if rid is not None else None
    except (PyMongoError, KeyError):
        pass  # not every server (nor every role) can read the config: the chain decides then
    return SourceIdentity(replica_set_id=replica_set_id, hosts=hosts)
