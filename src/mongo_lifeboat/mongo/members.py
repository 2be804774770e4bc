"""Which member to back up from: hidden > healthy secondary > primary (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient, ReadPreference
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from ..errors import SourceUnreachable, UsageError
from ..remedies import Remedy

MAX_SECONDARY_LAG_S = 30.0


@dataclass(frozen=True)
class Member:
    host: str
    state: str  # PRIMARY / SECONDARY
    hidden: bool = False
    lag_s: float = 0.0


def discover(client: MongoClient[Any]) -> list[Member]:
    """Members of the replica set with their state, hidden flag and lag."""
    hello = client.admin.command("hello")
    if not hello.get("setName"):
        return []
    hidden: set[str] = set()
    try:
        cfg = client.admin.command("replSetGetConfig")["config"]
        hidden = {m["host"] for m in cfg.get("members", []) if m.get("hidden")}
    except PyMongoError:
        pass  # not every server (or role) allows it; treat nobody as hidden
    try:
        status = client.admin.command("replSetGetStatus")
        primary_opt = next(
            (m.get("optimeDate") for m in status["members"] if m.get("stateStr") == "PRIMARY"), None
        )
        out = []
        for m in status["members"]:
            if m.get("stateStr") not in ("PRIMARY", "SECONDARY"):
                continue
            lag = 0.0
            if primary_opt and m.get("optimeDate"):
                lag = max(0.0, (primary_opt - m["optimeDate"]).total_seconds())
            out.append(Member(m["name"], m["stateStr"], m["name"] in hidden, lag))
        return out
    except PyMongoError:
        members = [Member(hello["primary"], "PRIMARY")] if hello.get("primary") else []
        members += [Member(h, "SECONDARY") for h in hello.get("hosts", []) if h != hello.get("primary")]
        return members


def choose(members: list[Member], wanted: str, max_lag_s: float = MAX_SECONDARY_LAG_S) -> Member:
    """Pick the member for ``--member auto|primary|secondary|HOST:PORT``."""
    if not members:
        raise SourceUnreachable("no readable replica-set member found")
    primary = next((m for m in members if m.state == "PRIMARY"), None)
    healthy = [m for m in members if m.state == "SECONDARY" and m.lag_s <= max_lag_s]
    if wanted == "primary":
        if primary is None:
            raise SourceUnreachable(
                "the replica set has no primary now",
                "retry, or {do}",
                Remedy("member", {"member": "secondary"}),
            )
        return primary
    if wanted == "secondary":
        if not healthy:
            raise SourceUnreachable(
                f"no secondary within {max_lag_s:g}s of the primary",
                remedy=Remedy("member", {"member": "primary"}),
            )
        return min(healthy, key=lambda m: (not m.hidden, m.lag_s))
    if wanted == "auto":
        if healthy:
            return min(healthy, key=lambda m: (not m.hidden, m.lag_s))
        if primary is None:
            raise SourceUnreachable("no primary and no healthy secondary to back up from")
        return primary
    found = next((m for m in members if m.host == wanted), None)
    if found is None:
        hosts = ", ".join(m.host for m in members)
        raise UsageError(f"{wanted} is not a member of the replica set", f"members: {hosts}")
    return found


def member_client(uri: str, host: str, **kwargs: Any) -> MongoClient[dict[str, Any]]:
    """A direct connection to one member, with the URI's credentials and TLS options."""
    parsed = parse_uri(uri, validate=False)
    options = {
        k: v
        for k, v in parsed["options"].items()
        if k.lower() not in ("replicaset", "directconnection", "readpreference")
    }
    if parsed.get("username"):
        options["username"] = parsed["username"]
        options["password"] = parsed["password"]
    if parsed.get("database") and "authsource" not in {k.lower() for k in options}:
        options["authSource"] = parsed["database"]
    options.update(kwargs)
    return MongoClient(
        host,
        directConnection=True,
        read_preference=ReadPreference.SECONDARY_PREFERRED,
        document_class=dict,
        **options,
    )
