"""Where a base backup's capture begins (its anchor), per capture source: the oplog's newest
entry (moved back for open transactions, capped by the majority commit point), or, from a change
stream, the majority commit point that ``hello`` gives without reading the oplog."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from ...errors import UnsupportedSource
from ...timestamps import just_before
from ..chain import entry_digest
from ..reader import newest_entry, written_through


@dataclass(frozen=True)
class Anchor:
    """Where capture begins: entries with ``ts > start_ts`` are replayed over the export.

    ``guard``: an existing entry at or before which nothing may be trimmed (the start
    itself, or the first entry of the open transaction the start was moved back for).
    ``query_s``: what reading the newest entry cost (how slow this server's oplog is)."""

    start_ts: Timestamp
    guard: Timestamp
    query_s: float = 0.0
    # sha256 of the newest entry when the anchor was chosen (the consistent point's entry
    # when nothing is captured after it): what proves the base's place in a history.
    newest_digest: str | None = None


def majority_point(client: MongoClient[Any]) -> Timestamp | None:
    try:
        optimes = client.admin.command("replSetGetStatus").get("optimes", {})
        ts = (optimes.get("readConcernMajorityOpTime") or optimes.get("lastCommittedOpTime") or {}).get("ts")
        return ts if isinstance(ts, Timestamp) else None
    except PyMongoError:
        return None


def oplog_anchor(client: MongoClient[Any]) -> Anchor:
    """Oldest open transaction's first entry, else the newest oplog entry.

    An anchor that is too old only replays more (replay is idempotent); one that is
    too new loses writes. So the newest entry is capped by the majority commit point,
    which has no oplog holes (writes with an earlier ts still in flight).
    """
    t = time.monotonic()
    try:
        newest = newest_entry(client)
        start = newest["ts"]
    except StopIteration as e:
        raise UnsupportedSource(
            "the source oplog is empty", "write once to the replica set (or wait for its first no-op entry)"
        ) from e
    except OperationFailure as e:
        raise UnsupportedSource(
            f"cannot read the source oplog (local.oplog.rs): {e.details.get('errmsg') if e.details else e}",
            "Lifeboat needs a replica set (a single-node one is fine) and a user with the backup role",
        ) from e
    query_s = time.monotonic() - t
    majority = majority_point(client)
    if majority is not None and majority < start:
        start = majority
    guard = start
    try:
        for t in client.config.transactions.find(
            {"state": {"$in": ["prepared", "inProgress"]}}, {"startOpTime": 1}
        ):
            ts = (t.get("startOpTime") or {}).get("ts")
            if isinstance(ts, Timestamp) and ts <= guard:
                start, guard = just_before(ts), ts
    except PyMongoError:
        pass  # servers without config.transactions have no long-running transactions to bracket
    digest = entry_digest(newest.raw) if start == newest["ts"] else None
    return Anchor(start, guard, query_s, digest)


def stream_anchor(client: MongoClient[Any]) -> Anchor:
    """The majority commit point, from ``hello`` (no oplog read). A transaction still open
    then shows in the stream whole, at its commit, so nothing is moved back for it."""
    t = time.monotonic()
    majority, _ = written_through(client)
    return Anchor(majority, majority, time.monotonic() - t)
