"""What kind of deployment a source is, from its ``hello``: Lifeboat captures a replica set's
history. A standalone server has none; a ``mongos`` (a sharded cluster) is designed for (README,
"Sharded clusters") but refused until it can be tested against a real cluster."""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedSource

_REPLICA_SET_HINT = "run mongod as a replica set (a single-node set is fine: --replSet rs0 + rs.initiate())"


def replica_set_name(hello: dict[str, Any], needs: str) -> str:
    """The replica set's name; ``needs`` says what the command needs the oplog for."""
    if hello.get("msg") == "isdbgrid":
        raise UnsupportedSource(
            "the source is a mongos (a sharded cluster): Lifeboat does not capture sharded clusters yet",
            "back up a replica set; for a sharded cluster, see the README's 'Sharded clusters' section "
            "for the design and what must be verified on a real cluster first",
        )
    name = hello.get("setName")
    if not name:
        raise UnsupportedSource(f"the source is not a replica set: {needs}", _REPLICA_SET_HINT)
    return str(name)
