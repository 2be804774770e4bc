"""Azure Blob Storage: ``azure://container/prefix``.

azure-storage-blob does the protocol work. An object up to ``SINGLE_PUT`` bytes goes in one
request (one write per archived segment); a larger one is staged in ``BLOCK`` blocks (several
at once when the stream's length is known) and committed by one block list last, so a failed
or killed upload leaves only uncommitted blocks, which no listing shows and the service
discards. Downloads are read in bounded chunks, pinned to the ETag of the first.

``create`` is ``If-None-Match: *`` and ``replace`` is ``If-Match`` on the ETag read: two
writers racing cannot both win. Listings carry metadata when asked (``include=metadata``), so
``list(with_meta=True)`` costs no request per object.

The account: the plan's ``connection_string`` or ``account_url`` (else the environment's
``AZURE_STORAGE_CONNECTION_STRING``, ``AZURE_STORAGE_ACCOUNT_URL`` or ``AZURE_STORAGE_ACCOUNT``).
Credentials: the connection string's, the plan's ``account_key`` (else
``AZURE_STORAGE_KEY``), else azure-identity's ``DefaultAzureCredential`` (environment,
workload or managed identity, Azure CLI). A blip is retried by the SDK; what still fails
(throttling, 5xx, no connection) is transient, retried by ``repo.retrying`` until the
repository's ``timeout_s`` is spent; then the caller gets one ``StorageFailed`` naming the
operation, the object and the repository.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import ContainerClient, ImmutabilityPolicy

from ..errors import RepositoryError, UsageError
from ..secrets import redact, register
from . import layout
from .storage import ObjectInfo, ObjectMissing, TransientStorageError, check_key
from .streams import BUFFER, Counting, remaining

SINGLE_PUT = 8 << 20  # up to this, one request; above it, staged blocks committed last
BLOCK = 8 << 20
WINDOW = 8 << 20  # a download's bytes per request
_BATCH = 256  # the most a blob batch request may delete
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class AzureStorage:
    def __init__(
        self,
        container: str,
        prefix: str = "",
        client: Any = None,
        *,
        account_url: str | None = None,
        connection_string: str | None = None,
        account_key: str | None = None,
        lock_days: int = 0,
        lock_mode: str = "governance",
    ) -> None:
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"azure://{container}/{self.prefix}".rstrip("/")
        self.client = client or _container(container, account_url, connection_string, account_key)
        # Version-level immutability: "Unlocked" may be shortened by an admin, "Locked" by no one.
        self.lock_days, self.lock_mode = lock_days, "Locked" if lock_mode == "compliance" else "Unlocked"

    def _name(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    def _fail(self, what: str, key: str, e: Exception) -> Exception:
        where = f"{self.url}/{key}" if key else self.url
        status = getattr(e, "status_code", None)
        if isinstance(e, ClientAuthenticationError) or status in (401, 403):
            return RepositoryError(
                f"Azure {what} of {where} was refused: {_first_line(e)}",
                "check the account's credentials and that they hold the Storage Blob Data Contributor role",
            )
        if getattr(e, "error_code", None) == "ContainerNotFound":
            return RepositoryError(
                f"Azure container of {self.url} not found",
                "check the container's name (initialising the repository creates a missing one)",
            )
        if isinstance(e, ServiceRequestError | ServiceResponseError) or status in _TRANSIENT_STATUS:
            return TransientStorageError(_first_line(e))  # repo.retrying names the operation
        return RepositoryError(f"Azure {what} of {where} failed: {_first_line(e)}")

    def create_container_if_missing(self) -> bool:
        """``init`` only: a missing container is made (private, no public access); True if it
        was. Version-level immutability (``object_lock_days``) must be enabled on the account
        or container by its owner: it cannot be switched on here."""
        try:
            self.client.create_container()
        except ResourceExistsError:
            return False
        except AzureError as e:
            raise self._fail("create container", "", e) from e
        return True

    def _retention(self, key: str) -> dict[str, Any]:
        """Immutability for objects that never change: not even the account's own keys can
        delete or overwrite them before it ends (the container must allow version-level WORM)."""
        if not self.lock_days or not layout.is_immutable(key):
            return {}
        until = datetime.now(UTC) + timedelta(days=self.lock_days)
        return {"immutability_policy": ImmutabilityPolicy(expiry_time=until, policy_mode=self.lock_mode)}

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        blob = self.client.get_blob_client(self._name(key))
        length = remaining(stream)
        # A stream of known length is read by the library itself, in parallel blocks; one of
        # unknown length goes block after block, counted on the way.
        body: Any = stream if length is not None else io.BufferedReader(Counting(stream), BUFFER)
        try:
            blob.upload_blob(
                body,
                length=length,
                overwrite=True,
                metadata=dict(meta or {}),
                max_concurrency=4 if length is not None else 1,
                **self._retention(key),
            )
        except AzureError as e:
            raise self._fail("upload", key, e) from e
        size = length if length is not None else body.raw.size
        return ObjectInfo(key, size, dict(meta or {}))

    def create(self, key: str, data: bytes) -> bool:
        try:
            self.client.get_blob_client(self._name(key)).upload_blob(
                data, overwrite=False, **self._retention(key)
            )
            return True
        except ResourceExistsError:
            return False
        except AzureError as e:
            raise self._fail("conditional create", key, e) from e

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            download = self.client.get_blob_client(self._name(key)).download_blob()
            return download.readall(), str(download.properties.etag)
        except ResourceNotFoundError as e:
            raise ObjectMissing(key) from e
        except AzureError as e:
            raise self._fail("read", key, e) from e

    def replace(self, key: str, data: bytes, version: str) -> bool:
        try:
            self.client.get_blob_client(self._name(key)).upload_blob(
                data, overwrite=True, etag=version, match_condition=MatchConditions.IfNotModified
            )
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except AzureError as e:
            raise self._fail("conditional replace", key, e) from e

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        try:
            download = self.client.get_blob_client(self._name(key)).download_blob(
                offset=offset or None, length=length, max_concurrency=1
            )
        except ResourceNotFoundError as e:
            raise ObjectMissing(key) from e
        except HttpResponseError as e:
            if e.status_code == 416:  # reading from the very end: nothing there
                return io.BytesIO(b"")
            raise self._fail("read", key, e) from e
        except AzureError as e:
            raise self._fail("read", key, e) from e
        return io.BufferedReader(_Download(download, lambda e: self._fail("read", key, e)), BUFFER)

    def stat(self, key: str) -> ObjectInfo:
        props = self._properties(key)
        return ObjectInfo(key, int(props.size), _meta(props.metadata))

    def _properties(self, key: str) -> Any:
        try:
            return self.client.get_blob_client(self._name(key)).get_blob_properties()
        except ResourceNotFoundError as e:
            raise ObjectMissing(key) from e
        except AzureError as e:
            raise self._fail("stat", key, e) from e

    def locked_until(self, key: str) -> datetime | None:
        try:
            policy = self._properties(key).immutability_policy
        except ObjectMissing:
            return None
        until = policy.expiry_time if policy else None
        return until if isinstance(until, datetime) and until > datetime.now(UTC) else None

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        try:
            for blob in self.client.list_blobs(
                name_starts_with=self.prefix + prefix, include=["metadata"] if with_meta else None
            ):
                meta = _meta(blob.metadata) if with_meta else {}
                yield ObjectInfo(blob.name[len(self.prefix) :], int(blob.size), meta)
        except AzureError as e:
            raise self._fail("listing", prefix, e) from e

    def delete(self, keys: Iterable[str]) -> None:
        names = [self._name(k) for k in keys]
        for i in range(0, len(names), _BATCH):
            chunk = names[i : i + _BATCH]
            try:
                answers = self.client.delete_blobs(*chunk, raise_on_any_failure=False)
            except AzureError as e:
                raise self._fail("delete", chunk[0][len(self.prefix) :], e) from e
            for name, answer in zip(chunk, answers, strict=True):
                if answer.status_code not in (200, 202, 404):  # absent already: not an error
                    raise self._fail("delete", name[len(self.prefix) :], HttpResponseError(response=answer))

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return ()  # uncommitted uploads are never objects, and the service expires them itself

    def undelete(self, prefix: str) -> tuple[str, ...]:
        """Brings back the objects under ``prefix`` that blob soft delete still keeps."""
        back = []
        try:
            for blob in self.client.list_blobs(name_starts_with=self.prefix + prefix, include=["deleted"]):
                if blob.deleted:
                    self.client.get_blob_client(blob.name).undelete_blob()
                    back.append(blob.name[len(self.prefix) :])
        except AzureError as e:
            raise self._fail("undelete", prefix, e) from e
        return tuple(sorted(set(back)))


def _container(
    name: str, account_url: str | None, connection_string: str | None, account_key: str | None
) -> ContainerClient:
    options: dict[str, Any] = {
        # The SDK's own backoff for a blip (throttling, 5xx, a dropped connection); what still
        # fails is TransientStorageError, which repo.retrying retries until timeout_s is spent.
        "retry_total": 1,  # one quick retry (a block of a large upload is resent alone)
        "initial_backoff": 0.2,
        "increment_base": 1,  # the SDK waits initial + base**n seconds
        "random_jitter_range": 0.2,
        "connection_timeout": 10,
        "read_timeout": 60,
        "max_single_put_size": SINGLE_PUT,
        "max_block_size": BLOCK,
        "max_single_get_size": WINDOW,
        "max_chunk_get_size": WINDOW,
    }
    connection_string = connection_string or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection_string and not account_url:
        register(connection_string)
        return ContainerClient.from_connection_string(connection_string, name, **options)
    account_url = account_url or os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
    if not account_url and os.environ.get("AZURE_STORAGE_ACCOUNT"):
        account_url = f"https://{os.environ['AZURE_STORAGE_ACCOUNT']}.blob.core.windows.net"
    if not account_url:
        raise UsageError(
            f"no Azure storage account for azure://{name}",
            "set account_url (or connection_string) on the [[repository]], "
            "or AZURE_STORAGE_ACCOUNT_URL / AZURE_STORAGE_CONNECTION_STRING",
        )
    account_key = account_key or os.environ.get("AZURE_STORAGE_KEY")
    if account_key:
        register(account_key)
        credential: Any = account_key
    else:
        from azure.identity import DefaultAzureCredential  # only when no key is given

        credential = DefaultAzureCredential()
    return ContainerClient(account_url, name, credential=credential, **options)


def _meta(metadata: Mapping[str, str | None] | None) -> dict[str, str]:
    """Listings give an empty metadata value as None."""
    return {k: v or "" for k, v in (metadata or {}).items()}


def _first_line(e: Exception) -> str:
    """The service's message without the request dump the SDK appends."""
    return redact(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)


class _Download(io.RawIOBase):
    """The SDK's download as a raw stream; its later requests fail as the repository's do."""

    def __init__(self, download: Any, fail: Any) -> None:
        self.download, self.fail = download, fail

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self.download.read(len(b))
        except ResourceNotFoundError as e:  # replaced or deleted while being read
            raise ObjectMissing(str(e)) from e
        except AzureError as e:
            raise self.fail(e) from e
        n = len(data)
        b[:n] = data
        return n
