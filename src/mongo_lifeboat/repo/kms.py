"""AWS KMS envelope keys: a repository's data key, wrapped by a KMS key (``kms_key_id``).

At ``init`` KMS generates a 256-bit data key; the repository marker keeps only the wrapped
copy (the ciphertext blob KMS returned), bound to the repository's id by an encryption
context. Opening the repository asks KMS to unwrap it — so reading or writing needs
``kms:Decrypt`` on that key, revoking that permission (or disabling the key) locks every
reader out, and no key material is ever kept on disk or in the plan. The data key then
encrypts objects exactly like a local key (``repo.crypto``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from ..errors import EncryptionKeyError
from ..secrets import register
from .crypto import Key

if TYPE_CHECKING:
    from ..config import RepositorySettings


def _client(settings: RepositorySettings | None) -> Any:
    import boto3  # only repositories that use KMS need it
    from botocore.config import Config

    session = (
        boto3.Session(profile_name=settings.profile) if settings and settings.profile else boto3.Session()
    )
    return session.client(
        "kms",
        region_name=settings.region if settings else None,
        config=Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=30),
    )


def _context(repo_id: str) -> dict[str, str]:
    return {"lifeboat-repository": repo_id}


def _failed(what: str, key_id: str, e: Exception) -> EncryptionKeyError:
    return EncryptionKeyError(
        f"KMS could not {what} with key {key_id}: {e}",
        "check that the key exists, is enabled, and that these credentials may use it (kms:GenerateDataKey, kms:Decrypt)",
    )


def new_data_key(
    kms_key_id: str, repo_id: str, settings: RepositorySettings | None
) -> tuple[Key, dict[str, str]]:
    """A fresh data key, and what the marker records of it (the wrapped copy, never the key)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        got = _client(settings).generate_data_key(
            KeyId=kms_key_id, KeySpec="AES_256", EncryptionContext=_context(repo_id)
        )
    except (ClientError, BotoCoreError) as e:
        raise _failed("generate a data key", kms_key_id, e) from e
    register(base64.b64encode(got["Plaintext"]).decode())
    record = {
        "key_id": str(got.get("KeyId") or kms_key_id),
        "wrapped_key": base64.b64encode(got["CiphertextBlob"]).decode(),
    }
    return Key(bytes(got["Plaintext"])), record


def unwrap(record: dict[str, str], repo_id: str, settings: RepositorySettings | None) -> Key:
    """The repository's data key, from the wrapped copy in its marker."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        got = _client(settings).decrypt(
            CiphertextBlob=base64.b64decode(record["wrapped_key"]),
            KeyId=record["key_id"],
            EncryptionContext=_context(repo_id),
        )
    except (ClientError, BotoCoreError) as e:
        raise _failed("unwrap the repository's data key", record["key_id"], e) from e
    register(base64.b64encode(got["Plaintext"]).decode())
    return Key(bytes(got["Plaintext"]))
