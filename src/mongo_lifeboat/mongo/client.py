"""MongoClient factory: one place for timeouts, redaction and clear connection errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pymongo import MongoClient
from pymongo.common import URI_OPTIONS_ALIAS_MAP, URI_OPTIONS_VALIDATOR_MAP
from pymongo.errors import ConfigurationError, InvalidURI, OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from ..errors import SourceUnreachable, UsageError

DEFAULT_TIMEOUT_MS = 10_000


def describe(uri: str) -> str:
    """The hosts of ``uri``, never its credentials: for messages."""
    try:
        nodes = parse_uri(uri, validate=False)["nodelist"]
        return ",".join(f"{h}:{p}" for h, p in nodes) or "?"
    except Exception:
        return "<unparseable URI>"


def _unknown_options(uri: str) -> list[str]:
    """The URI's options the driver does not know, as written (never a value: it may be a secret)."""
    query = urlsplit(uri).query
    known = set(URI_OPTIONS_VALIDATOR_MAP) | set(URI_OPTIONS_ALIAS_MAP)
    names = [part.split("=", 1)[0] for part in query.replace(";", "&").split("&") if part]
    return [n for n in names if n.lower() not in known]


def connect(
    uri: str | None,
    *,
    role: str = "source",
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    **kwargs: Any,
) -> MongoClient[dict[str, Any]]:
    """Connect and ping, so an unreachable server fails here with one clear line."""
    if not uri:
        env = "LIFEBOAT_SOURCE_URI" if role == "source" else "LIFEBOAT_TARGET_URI"
        raise UsageError(f"no {role} URI given", f"pass --{role} URI or set {env}")
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise UsageError(f"not a MongoDB URI: {uri}", "URIs start with mongodb:// or mongodb+srv://")
    try:  # strictly: an unknown or malformed option is bad input here, not a driver warning later
        parse_uri(uri, validate=True, warn=False)
    except (InvalidURI, ConfigurationError, ValueError, TypeError) as e:
        unknown = _unknown_options(uri)
        why = f"unknown option {', '.join(unknown)}" if unknown else str(e)
        raise UsageError(
            f"invalid {role} URI {describe(uri)}: {why}", "check the URI's syntax and options"
        ) from e
    opts: dict[str, Any] = {
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": min(timeout_ms, 10_000),
        "appname": "lifeboat",
    }
    opts.update(kwargs)
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, document_class=dict, **opts)
    except (InvalidURI, ConfigurationError, ValueError, TypeError) as e:
        raise UsageError(f"invalid {role} URI {describe(uri)}: {e}", "check the URI syntax") from e
    try:
        client.admin.command("ping")
    except OperationFailure as e:
        client.close()
        if e.code in (18, 13):
            raise SourceUnreachable(
                f"{role} {describe(uri)} refused the credentials ({e.code}: authentication failed)",
                "check the user, password and authSource",
            ) from e
        raise SourceUnreachable(f"{role} {describe(uri)} rejected ping: {e}") from e
    except PyMongoError as e:
        client.close()
        raise SourceUnreachable(
            f"cannot reach the {role} at {describe(uri)} within {timeout_ms / 1000:g}s",
            "is the server running and reachable from here? check host, port and TLS options",
        ) from e
    if not _has_credentials(uri, kwargs):
        _require_no_authentication(client, role, uri)
    return client


def _has_credentials(uri: str, kwargs: dict[str, Any]) -> bool:
    try:
        parsed = parse_uri(uri, validate=False, warn=False)
    except Exception:
        return False
    mechanism = str(parsed["options"].get("authMechanism") or kwargs.get("authMechanism") or "")
    return bool(parsed.get("username") or kwargs.get("username") or mechanism.upper() == "MONGODB-X509")


def _require_no_authentication(client: MongoClient[dict[str, Any]], role: str, uri: str) -> None:
    """A server with access control answers ``ping`` to anyone, then refuses everything else:
    no user given is said here, as what it is (exit 4), not later as a missing oplog."""
    try:
        client.admin.command("listDatabases", nameOnly=True)
    except OperationFailure as e:
        if e.code not in (13, 18):
            return  # refused for another reason: the command that needs it will say why
        client.close()
        raise SourceUnreachable(
            f"{role} {describe(uri)} requires authentication and no user was given "
            f"(listDatabases refused: {e.details.get('errmsg') if e.details else e.code})",
            "give a user and its password in the URI, before the host, with authSource=admin (in a "
            "plan's [deployment] source, the password from an environment variable)",
        ) from e
    except PyMongoError:
        return
