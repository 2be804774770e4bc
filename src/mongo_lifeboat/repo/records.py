"""Small JSON records in the repository (drill reports, alert deliveries, check results).

Each is written whole by one ``put`` (atomic in every backend) with a SHA-256 of its body
beside it, and checked on every read: a damaged record is reported, never half-believed.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

from ..errors import IntegrityError
from .storage import ObjectMissing, Storage


def put_record(storage: Storage, key: str, data: dict[str, Any]) -> None:
    body = json.dumps(data, indent=2).encode()
    storage.put(key, io.BytesIO(body), {"sha256": hashlib.sha256(body).hexdigest()})


def get_record(storage: Storage, key: str) -> dict[str, Any] | None:
    """The record at ``key``, or None when there is none. Raises IntegrityError when damaged."""
    try:
        info = storage.stat(key)
        with storage.get(key) as f:
            body = f.read()
    except ObjectMissing:
        return None
    expected = info.meta.get("sha256")
    if expected and hashlib.sha256(body).hexdigest() != expected:
        raise IntegrityError(f"record {key} is damaged (its checksum does not match)")
    try:
        return dict(json.loads(body))
    except ValueError as e:
        raise IntegrityError(f"record {key} is damaged: {e}") from e


def list_records(storage: Storage, prefix: str) -> list[str]:
    return [o.key for o in storage.list(prefix) if o.key.endswith(".json")]
