"""What a source server can do, asked without changing anything on it."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def write_lock_problem(client: MongoClient[Any]) -> str | None:
    """Why ``fsync`` with ``lock: true`` cannot work on this server; None when it can (or
    cannot be told). Never locks: a check must not block a production member's writes."""
    try:
        commands = client.admin.command("listCommands").get("commands", {})
    except PyMongoError as e:
        # mongod always answers listCommands; a server that does not is a MongoDB-compatible
        # one (SecantusDB, DocumentDB, Cosmos DB …), none of which offers fsyncLock.
        build = _build_info(client)
        return f"the server ({build}) does not answer listCommands ({getattr(e, 'code', '?')}), so it is not a mongod with fsyncLock"
    if "fsync" not in commands or "fsyncUnlock" not in commands:
        return "the server lists no fsync/fsyncUnlock command"
    return None


def _build_info(client: MongoClient[Any]) -> str:
    try:
        info = client.admin.command("buildInfo")
    except PyMongoError:
        return "version unknown"
    extra = [f"{k} {v}" for k, v in info.items() if k.endswith("Version") and k != "version"]
    return ", ".join([f"version {info.get('version', '?')}", *extra])


def version_and_fcv(client: MongoClient[Any]) -> tuple[str, str | None]:
    """The server's version and its featureCompatibilityVersion (None where not answered)."""
    version = str(client.admin.command("buildInfo").get("version", "unknown"))
    try:
        fcv = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
        return version, str(fcv["featureCompatibilityVersion"]["version"])
    except (PyMongoError, KeyError, TypeError):
        return version, None
