"""A Lifeboat repository: the marker, backups and their manifests."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import (
    BackupNotFound,
    EncryptionKeyError,
    IntegrityError,
    LifeboatError,
    RepositoryError,
    UsageError,
)
from ..events import Reporter
from ..remedies import Remedy
from . import crypto, kms, layout
from .backends import open_storage
from .manifest import FORMAT_VERSION, Manifest
from .mirror import Member, MirrorStorage
from .retrying import DEFAULT_DEADLINE_S, RetryingStorage
from .storage import ObjectInfo, ObjectMissing, Storage, check_key

if TYPE_CHECKING:
    from ..config import RepositorySettings


@dataclass(frozen=True)
class BackupListing:
    deployment_key: str  # escaped deployment name, as in object keys
    backup_id: str
    manifest: Manifest | None  # None: incomplete (no manifest: never used), or damaged
    # Why its manifest cannot be read (corrupt, swapped, under another key): the damage stays
    # with this backup; every other one lists, restores and verifies as before.
    damaged: str | None = None
    damage_kind: type[LifeboatError] = IntegrityError  # a key not given is exit 22, not damage (7)

    @property
    def complete(self) -> bool:
        return self.manifest is not None


def _check_belongs(key: str, manifest: Manifest) -> None:
    """A manifest names only its own backup's objects, under its own id: one copied over
    another backup's, or naming a key outside its backup (``..``), is refused before any of
    its objects is read or anything is written."""
    prefix = key[: -len(layout.MANIFEST)]
    if not prefix.endswith(f"/backups/{manifest.backup_id}/"):
        raise IntegrityError(f"{key} is the manifest of backup {manifest.backup_id}: it was moved or swapped")
    for entry in manifest.all_files():
        try:
            check_key(entry.key)
        except ValueError as e:
            raise IntegrityError(f"{key} names an unsafe object key {entry.key!r}") from e
        if not entry.key.startswith(prefix):
            raise IntegrityError(f"{key} names an object outside its backup: {entry.key!r}")


def _keys(settings: RepositorySettings | None) -> list[crypto.Key]:
    return crypto.load_keys(
        os.environ.get("LIFEBOAT_ENCRYPTION_KEY"),
        settings.key_file if settings else None,
        settings.old_key_files if settings else [],
    )


def _decrypting(storage: Storage, info: dict[str, Any], settings: RepositorySettings | None) -> Storage:
    """The repository's storage, decrypting when it is encrypted (key checked here, at open:
    before anything is read from it or written anywhere)."""
    keys = _keys(settings)
    record = info.get("encryption")
    kms_key_id = settings.kms_key_id if settings else None
    if record is None:
        if keys or kms_key_id:
            raise EncryptionKeyError(
                f"an encryption key is set but the repository {storage.url} is not encrypted",
                "unset LIFEBOAT_ENCRYPTION_KEY (or key_file, kms_key_id) for it, "
                "or copy it into a new encrypted repository",
            )
        return storage
    if "kms" in record:  # the data key, unwrapped by KMS; local keys stay readable (rotation)
        keys = [kms.unwrap(record["kms"], str(info.get("repo_id")), settings), *keys]
    elif kms_key_id:
        raise EncryptionKeyError(
            f"the repository {storage.url} was created with a local key, not with KMS key {kms_key_id}",
            "give its key (key_file or LIFEBOAT_ENCRYPTION_KEY), or copy it into a new repository created with KMS",
        )
    crypto.verify_check(keys, record, storage.url)
    if record.get("key_id") != keys[0].id.hex():
        _record_rotation(storage, info, keys[0], settings)
    return crypto.EncryptedStorage(
        storage, keys, str(info.get("repo_id")), unbound_ok=record.get("binding") != "repository+key"
    )


def _record_rotation(
    storage: Storage, info: dict[str, Any], current: crypto.Key, settings: RepositorySettings | None
) -> None:
    """The key was rotated: the marker's check now proves the new key, so that once the last
    object written with an old key is pruned, the old key can go. Best effort (a read-only
    credential leaves the marker as it was; the next writer records it)."""
    record = dict(info["encryption"])
    previous = sorted({*record.get("previous_key_ids", []), record["key_id"]})
    info["encryption"] = {**record, **crypto.key_check(current), "previous_key_ids": previous}
    try:
        _retrying(storage, settings).put(layout.REPO_MARKER, io.BytesIO(json.dumps(info, indent=2).encode()))
    except (RepositoryError, OSError):
        info["encryption"] = record


def _retrying(storage: Storage, settings: RepositorySettings | None) -> Storage:
    return RetryingStorage(storage, settings.timeout_s if settings else DEFAULT_DEADLINE_S)


class Repository:
    already_existed = False  # set by init() when it found the repository there

    def __init__(self, storage: Storage, info: dict[str, object]) -> None:
        self.storage = storage
        self._manifests: dict[str, Manifest] = {}
        self.info = info

    @property
    def url(self) -> str:
        return self.storage.url

    @classmethod
    def init(cls, url: str, settings: RepositorySettings | None = None) -> Repository:
        storage = open_storage(url, settings)
        make_container = getattr(storage, "create_container_if_missing", None)
        if make_container is not None:  # Azure: a container is a folder, not an owner's policy
            make_container()
        try:
            _retrying(storage, settings).stat(layout.REPO_MARKER)
        except ObjectMissing:
            pass
        else:  # init is idempotent: an existing repository of this format is fine as it is
            existing = cls.open(url, settings)
            existing.already_existed = True
            return existing
        info: dict[str, object] = {
            "format": FORMAT_VERSION,
            "repo_id": str(uuid.uuid4()),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tool": "lifeboat",
        }
        keys = _keys(settings)
        wrapped: dict[str, str] = {}
        if settings and settings.kms_key_id:  # a data key made and wrapped by KMS
            data_key, wrapped = kms.new_data_key(settings.kms_key_id, str(info["repo_id"]), settings)
            keys = [data_key]
        if keys:  # the marker stays plaintext; it proves which key the repository needs
            info["encryption"] = {
                "cipher": "AES-256-GCM",
                "binding": "repository+key",  # every object bound to where it is stored
                **crypto.key_check(keys[0]),
                **({"kms": wrapped} if wrapped else {}),
            }
        _retrying(storage, settings).put(layout.REPO_MARKER, io.BytesIO(json.dumps(info, indent=2).encode()))
        encrypted = crypto.EncryptedStorage(storage, keys, str(info["repo_id"])) if keys else storage
        return cls(_retrying(encrypted, settings), info)

    @classmethod
    def open(cls, url: str, settings: RepositorySettings | None = None) -> Repository:
        storage = open_storage(url, settings)
        try:
            with _retrying(storage, settings).get(layout.REPO_MARKER) as f:
                info = json.loads(f.read())
        except ObjectMissing as e:
            raise RepositoryError(f"no Lifeboat repository at {storage.url}") from e
        except (OSError, ValueError) as e:
            raise RepositoryError(f"cannot read the repository marker at {storage.url}: {e}") from e
        storage = _retrying(_decrypting(storage, info, settings), settings)
        if info.get("format") != FORMAT_VERSION:
            raise RepositoryError(
                f"repository format {info.get('format')} at {storage.url} is not supported",
                f"this lifeboat reads format {FORMAT_VERSION}",
            )
        return cls(storage, info)

    @classmethod
    def mirrored(cls, members: list[Member], info: dict[str, object]) -> Repository:
        """Several repositories as one (see ``repo.mirror``): written to all, read from the
        first that has what is needed. ``info``: the first open one's marker."""
        return cls(MirrorStorage(members), info)

    @property
    def mirror(self) -> MirrorStorage | None:
        return self.storage if isinstance(self.storage, MirrorStorage) else None

    def listen(self, listener: Reporter, *, only: bool = False) -> bool:
        """Several repositories: ``listener`` hears each member that goes down, serves a bad
        object or comes back (``only``: instead of those listening so far). False: one repository."""
        mirror = self.mirror
        if mirror is None:
            return False
        if only:
            mirror.listeners.clear()
        mirror.listeners.append(listener)
        return True

    def member_outcomes(self) -> dict[str, str]:
        """Several repositories: by name, "complete" where every write of this run landed, else
        why not ("missed: …"); one repository: empty."""
        mirror = self.mirror
        if mirror is None:
            return {}
        return {m.name: "complete" if m.down is None else f"missed: {m.down}" for m in mirror.members}

    def check_writable(self) -> None:
        """Fail now, naming the repository, if it cannot be written: before a backup or an
        archiver connects to the source and does work it could not keep."""
        key = f"write-check-{uuid.uuid4().hex}"
        self.storage.put(key, io.BytesIO(b""))
        self.storage.delete([key])

    # -- backups -------------------------------------------------------------

    def read_manifest(self, key: str) -> Manifest:
        """The manifest at ``key``, checked (it parses, and names only its own backup's
        objects); IntegrityError naming the key otherwise."""
        # A manifest never changes once written (it is the commit point): read each once.
        cached = self._manifests.get(key)
        if cached is not None:
            return cached
        try:
            with self.storage.get(key) as f:
                manifest = Manifest.model_validate_json(f.read())
        except ObjectMissing as e:
            raise IntegrityError(f"manifest is missing: {key}") from e
        except ValidationError as e:
            raise IntegrityError(f"manifest is corrupt: {key} ({e.error_count()} problems)") from e
        except ValueError as e:  # not even JSON
            raise IntegrityError(f"manifest is corrupt: {key} ({e})") from e
        _check_belongs(key, manifest)
        self._manifests[key] = manifest
        return manifest

    def list_backups(self, listed: Iterable[ObjectInfo] | None = None) -> list[BackupListing]:
        """Every backup, complete or not (``listed``: the repository's listing, when the caller
        has just made one: a listing is the cost that grows with the repository)."""
        seen: dict[tuple[str, str], str | None] = {}
        for obj in self.storage.list() if listed is None else listed:
            parsed = layout.parse_backup_key(obj.key)
            if parsed is None:
                continue
            dep, bid, rest = parsed
            if rest == layout.MANIFEST:
                seen[(dep, bid)] = obj.key
            else:
                seen.setdefault((dep, bid), None)
        out = []
        for (dep, bid), mkey in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if mkey is None:
                out.append(BackupListing(dep, bid, None))
                continue
            try:
                out.append(BackupListing(dep, bid, self.read_manifest(mkey)))
            except (IntegrityError, EncryptionKeyError) as e:
                out.append(BackupListing(dep, bid, None, damaged=e.message, damage_kind=type(e)))
        return out

    def damaged_after(self, manifest: Manifest) -> list[BackupListing]:
        """Damaged backups of ``manifest``'s deployment newer than it: what ``latest`` skipped."""
        return [
            b
            for b in self.list_backups()
            if b.damaged
            and b.backup_id > manifest.backup_id
            and b.deployment_key == layout.deployment_prefix(manifest.deployment).rstrip("/")
        ]

    def resolve(self, backup_id: str, deployment: str | None = None) -> Manifest:
        """A complete backup by id, or ``latest``; BackupNotFound otherwise."""
        complete = [b for b in self.list_backups() if b.manifest is not None]
        if deployment:
            complete = [b for b in complete if b.manifest and b.manifest.deployment == deployment]
        if backup_id == "latest":
            if not complete:
                raise BackupNotFound(f"no complete backup in {self.url}", remedy=Remedy("backup"))
            deployments = {b.deployment_key for b in complete}
            if len(deployments) > 1:
                raise UsageError(
                    "the repository holds several deployments; 'latest' is ambiguous",
                    "name the backup id: {do}",
                    Remedy("list-backups"),
                )
            manifest = complete[-1].manifest
            assert manifest is not None
            return manifest
        if not layout.is_backup_id(backup_id):
            raise UsageError(
                f"not a backup id: {backup_id!r}", "backup ids look like 20261124T021300Z, or use 'latest'"
            )
        matches = [b for b in complete if b.backup_id == backup_id]
        if not matches:
            other = next((b for b in self.list_backups() if b.backup_id == backup_id), None)
            if other is not None and other.damaged:
                raise other.damage_kind(
                    f"backup {backup_id} is damaged: {other.damaged}",
                    "restore another backup, or a copy from another repository; {do}",
                    Remedy("delete-damaged", {"backup": backup_id}),
                )
            detail = " (it is incomplete: it never finished)" if other is not None else ""
            raise BackupNotFound(f"backup {backup_id} not found in {self.url}{detail}")
        if len(matches) > 1:
            raise UsageError(f"backup id {backup_id} exists for several deployments")
        manifest = matches[0].manifest
        assert manifest is not None
        return manifest

    def write_manifest(self, manifest: Manifest) -> None:
        key = layout.manifest_key(manifest.deployment, manifest.backup_id)
        body = manifest.model_dump_json(indent=2).encode()
        self.storage.put(key, io.BytesIO(body))

    def backup_exists(self, deployment: str, backup_id: str) -> bool:
        prefix = layout.backup_prefix(deployment, backup_id)
        return next(iter(self.storage.list(prefix)), None) is not None
