"""The repository's record of damaged objects: what a read found unreadable stays known.

A damaged segment found by ``verify``, a restore, a scan for incidents or the agent's
background sampling is recorded here once, so every later command treats it as what it is
(a gap in the timeline, never a repository-wide error) without reading it again. The
record is cleared when the object reads intact again (after ``lifeboat repair``, or when it
is deleted). One small object per damaged key: concurrent finders never overwrite each
other's records.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import layout
from .storage import ObjectMissing, Storage

if TYPE_CHECKING:
    from .repository import Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Damage:
    key: str
    problem: str
    found_at: str


def _record_key(key: str) -> str:
    """Beside the object, under its own deployment's prefix (the object key's first part)."""
    deployment_key = key.split("/", 1)[0]
    return f"{deployment_key}/{layout.DAMAGE_DIR}/{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def record_damage(storage: Storage, key: str, problem: str) -> None:
    """Best effort: a repository that cannot take the record (read-only, unreachable) still
    gets the error that found the damage; the next reader finds it again."""
    body = {"key": key, "problem": problem, "found_at": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        storage.put(_record_key(key), io.BytesIO(json.dumps(body).encode()))
    except Exception as e:  # recording is a courtesy to the next reader, never an error
        log.warning("could not record the damage to %s: %s", key, e)


def clear_damage(storage: Storage, key: str) -> None:
    storage.delete([_record_key(key)])


def damaged_objects(storage: Storage, deployment: str) -> dict[str, Damage]:
    """Recorded damage by object key (an unreadable record is ignored: it only repeats what
    the object itself will say when read)."""
    found: dict[str, Damage] = {}
    for obj in storage.list(layout.damage_prefix(deployment)):
        try:
            with storage.get(obj.key) as f:
                data = json.loads(f.read())
            found[data["key"]] = Damage(data["key"], data["problem"], data.get("found_at", ""))
        except (ObjectMissing, ValueError, KeyError, TypeError):
            continue
        except Exception as e:  # e.g. a record that fails authentication
            log.info("unreadable damage record %s: %s", obj.key, e)
    return found


def reconcile(storage: Storage, deployment: str, checked: Iterable[str], bad: dict[str, str]) -> None:
    """After ``checked`` objects were read: record those found ``bad`` (key -> problem) that
    are not recorded yet, and clear the records of those that read intact again."""
    recorded = damaged_objects(storage, deployment)
    for key in checked:
        if key in bad and key not in recorded:
            record_damage(storage, key, bad[key])
        elif key not in bad and key in recorded:
            clear_damage(storage, key)


def all_damaged(repo: Repository) -> dict[str, str]:
    """Every damaged object the repository knows of, in every deployment: recorded damage,
    and every manifest that cannot be read (key -> problem)."""
    found = {
        f"{b.deployment_key}/backups/{b.backup_id}/{layout.MANIFEST}": b.damaged
        for b in repo.list_backups()
        if b.damaged
    }
    keys = {obj.key for obj in repo.storage.list()}
    for key in sorted(keys):
        parts = key.split("/")
        if len(parts) == 3 and parts[1] == layout.DAMAGE_DIR:
            try:
                with repo.storage.get(key) as f:
                    data = json.loads(f.read())
            except (ObjectMissing, ValueError):
                continue
            if isinstance(data, dict) and data.get("key") in keys:  # not deleted since
                found[data["key"]] = str(data.get("problem", ""))
    return found
