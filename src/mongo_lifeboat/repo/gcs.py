"""Google Cloud Storage: ``gs://bucket/prefix``.

google-cloud-storage does the protocol work. An object up to ``SINGLE_PUT`` bytes goes in one
request (data and metadata together: one write per archived segment); a larger one goes as a
resumable upload in ``CHUNK`` pieces, and GCS creates the object only when the last piece is
in, so a failed or killed upload leaves nothing visible. Downloads are read in windows (ranged
GETs pinned to the generation the first one saw), so memory stays bounded.

``create`` is ``ifGenerationMatch=0`` (only if absent) and ``replace`` is ``ifGenerationMatch``
on the generation read: two writers racing cannot both win. Listings carry each object's
metadata, so ``list(with_meta=True)`` costs no request per object.

Credentials come from Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the
metadata server, ``gcloud auth application-default login``), or from the service-account
file the plan names. ``STORAGE_EMULATOR_HOST`` points the client at an emulator. Requests are
retried by the library's own policy, bounded by the repository's ``timeout_s``; when that runs
out the caller gets one ``StorageFailed`` naming the operation, the object and the repository.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from google.api_core import exceptions as gexc
from google.auth.exceptions import GoogleAuthError
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY
from google.resumable_media.common import InvalidResponse
from requests import RequestException

from ..errors import RepositoryError, StorageFailed
from ..secrets import redact
from . import layout
from .storage import ObjectInfo, ObjectMissing, check_key
from .streams import BUFFER, Sequential, Windows, read_head, remaining

SINGLE_PUT = 8 << 20  # up to this, one request; above it, a resumable upload
CHUNK = 16 << 20  # a resumable upload's piece (a multiple of 256 KiB)
WINDOW = 8 << 20  # a download's bytes per request
_TIMEOUT = (10, 60)  # connect, read: one request's own limits
_FAILURES = (gexc.GoogleAPICallError, gexc.RetryError, GoogleAuthError, RequestException, InvalidResponse)


class GcsStorage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        *,
        project: str | None = None,
        credentials_file: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 60.0,
        lock_days: int = 0,
        lock_mode: str = "governance",
    ) -> None:
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"gs://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or self._client(project, credentials_file, endpoint_url)
        self.bucket = self.client.bucket(bucket)
        self.retry = DEFAULT_RETRY.with_timeout(timeout_s)
        self.timeout_s = timeout_s
        # Object retention: "Unlocked" may be shortened by an admin, "Locked" by no one.
        self.lock_days, self.lock_mode = lock_days, "Locked" if lock_mode == "compliance" else "Unlocked"

    def _client(self, project: str | None, credentials_file: str | None, endpoint_url: str | None) -> Any:
        options = {"api_endpoint": endpoint_url} if endpoint_url else None
        try:
            if credentials_file:
                return gcs.Client.from_service_account_json(
                    credentials_file, project=project, client_options=options
                )
            return gcs.Client(project=project, client_options=options)
        except (GoogleAuthError, OSError, ValueError) as e:
            raise RepositoryError(
                f"no usable Google credentials for {self.url}: {redact(str(e).splitlines()[0])}",
                "set credentials_file on the [[repository]], or GOOGLE_APPLICATION_CREDENTIALS, or run "
                "gcloud auth application-default login",
            ) from e

    def _blob(self, key: str, generation: int | None = None) -> Any:
        """An object's handle. (Without a chunk size: a download given one is chunked and
        does not read the generation from the response.)"""
        check_key(key)
        return self.bucket.blob(self.prefix + key, generation=generation)

    def _fail(self, what: str, key: str, e: Exception) -> RepositoryError:
        where = f"{self.url}/{key}" if key else self.url
        if isinstance(e, gexc.Forbidden | gexc.Unauthorized | GoogleAuthError):
            return RepositoryError(
                f"GCS {what} of {where} was refused: {redact(str(e))}",
                "check the credentials (Application Default Credentials or the plan's credentials_file) "
                "and that they hold roles/storage.objectAdmin on the bucket",
            )
        if isinstance(e, gexc.NotFound):  # the object's absence is ObjectMissing: this is the bucket's
            return RepositoryError(
                f"GCS bucket of {self.url} not found",
                "create it first, in the project the credentials belong to (Lifeboat never creates "
                "buckets: location, versioning and retention are the owner's choice)",
            )
        return StorageFailed(
            f"GCS {what} of {where} failed (retried for up to {self.timeout_s:g}s): {redact(str(e))}"
        )

    def _retain(self, blob: Any, key: str) -> None:
        """Object retention for objects that never change: not even the repository's own
        credentials can delete or overwrite them before it ends (the bucket must allow it)."""
        if self.lock_days and layout.is_immutable(key):
            blob.retention.mode = self.lock_mode
            blob.retention.retain_until_time = datetime.now(UTC) + timedelta(days=self.lock_days)

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        blob = self._blob(key)
        blob.chunk_size = CHUNK  # a resumable upload's piece
        blob.metadata = dict(meta or {})
        self._retain(blob, key)
        length = remaining(stream)  # a seekable spool (every Lifeboat writer's) tells its length
        try:
            if length is None:
                head = read_head(stream, SINGLE_PUT + 1)
                if len(head) <= SINGLE_PUT:
                    length = self._single(blob, head)
                else:
                    body = Sequential(head, stream)
                    blob.upload_from_file(body, retry=self.retry, timeout=_TIMEOUT)
                    length = body.tell()
            elif length <= SINGLE_PUT:
                self._single(blob, stream.read())
            else:  # resumable: the library resends a failed piece from the seekable stream
                blob.upload_from_file(stream, size=length, retry=self.retry, timeout=_TIMEOUT)
        except _FAILURES as e:
            raise self._fail("upload", key, e) from e
        return ObjectInfo(key, length, dict(meta or {}))

    def _single(self, blob: Any, data: bytes) -> int:
        blob.upload_from_string(data, retry=self.retry, timeout=_TIMEOUT)
        return len(data)

    def create(self, key: str, data: bytes) -> bool:
        blob = self._blob(key)
        self._retain(blob, key)
        try:
            blob.upload_from_string(data, if_generation_match=0, retry=self.retry, timeout=_TIMEOUT)
            return True
        except gexc.PreconditionFailed:
            return False
        except _FAILURES as e:
            raise self._fail("conditional create", key, e) from e

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        blob = self._blob(key)
        try:
            data = blob.download_as_bytes(retry=self.retry, timeout=_TIMEOUT)
        except gexc.NotFound as e:
            raise ObjectMissing(key) from e
        except _FAILURES as e:
            raise self._fail("read", key, e) from e
        return data, str(blob.generation)

    def replace(self, key: str, data: bytes, version: str) -> bool:
        if not version.isdigit():
            return False  # not a generation this store gave
        try:
            self._blob(key).upload_from_string(
                data, if_generation_match=int(version), retry=self.retry, timeout=_TIMEOUT
            )
            return True
        except (gexc.PreconditionFailed, gexc.NotFound):
            return False
        except _FAILURES as e:
            raise self._fail("conditional replace", key, e) from e

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        blob = self._blob(key)
        pinned: list[Any] = []  # after the first window: the generation it read

        def fetch(start: int, stop: int) -> bytes:
            source = pinned[0] if pinned else blob
            try:
                data = source.download_as_bytes(start=start, end=stop - 1, retry=self.retry, timeout=_TIMEOUT)
            except gexc.RequestRangeNotSatisfiable:
                return b""  # reading from the very end: nothing there
            if not pinned:
                pinned.append(self._blob(key, blob.generation))
            return bytes(data)

        try:
            reader = Windows(fetch, offset, None if length is None else offset + length, WINDOW)
        except gexc.NotFound as e:
            raise ObjectMissing(key) from e
        except _FAILURES as e:
            raise self._fail("read", key, e) from e
        return io.BufferedReader(_Failing(reader, lambda e: self._fail("read", key, e)), BUFFER)

    def stat(self, key: str) -> ObjectInfo:
        blob = self._stat(key)
        return ObjectInfo(key, int(blob.size), dict(blob.metadata or {}))

    def _stat(self, key: str) -> Any:
        check_key(key)
        try:
            blob = self.bucket.get_blob(self.prefix + key, retry=self.retry, timeout=_TIMEOUT)
        except _FAILURES as e:
            raise self._fail("stat", key, e) from e
        if blob is None:
            raise ObjectMissing(key)
        return blob

    def locked_until(self, key: str) -> datetime | None:
        try:
            blob = self._stat(key)
        except ObjectMissing:
            return None
        ends = [blob.retention.retain_until_time, blob.retention_expiration_time]
        now = datetime.now(UTC)
        later = [t for t in ends if isinstance(t, datetime) and t > now]
        return max(later) if later else None

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        fields = "items(name,size" + (",metadata" if with_meta else "") + "),nextPageToken"
        try:
            for blob in self.client.list_blobs(
                self.bucket, prefix=self.prefix + prefix, fields=fields, retry=self.retry, timeout=_TIMEOUT
            ):
                meta = dict(blob.metadata or {}) if with_meta else {}
                yield ObjectInfo(blob.name[len(self.prefix) :], int(blob.size), meta)
        except _FAILURES as e:
            raise self._fail("listing", prefix, e) from e

    def delete(self, keys: Iterable[str]) -> None:
        def one(key: str) -> None:
            try:
                self._blob(key).delete(retry=self.retry, timeout=_TIMEOUT)
            except gexc.NotFound:
                pass
            except _FAILURES as e:
                raise self._fail("delete", key, e) from e

        keys = list(keys)
        if len(keys) <= 1:
            for key in keys:
                one(key)
            return
        with ThreadPoolExecutor(8) as pool:  # GCS deletes one object per request
            list(pool.map(one, keys))

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        return ()  # uncommitted uploads are never objects, and the service expires them itself

    def undelete(self, prefix: str) -> tuple[str, ...]:
        """Brings back, for each key under ``prefix`` with no live object, its newest copy the
        bucket still holds: a soft-deleted object (GCS keeps them 7 days by default) or, in a
        bucket with object versioning, the newest noncurrent generation."""
        try:
            live = {
                b.name
                for b in self.client.list_blobs(
                    self.bucket, prefix=self.prefix + prefix, fields="items(name),nextPageToken"
                )
            }
            kept: dict[str, tuple[int, bool]] = {}  # name -> (generation, soft-deleted)
            for soft, listing in ((True, {"soft_deleted": True}), (False, {"versions": True})):
                for b in self.client.list_blobs(self.bucket, prefix=self.prefix + prefix, **listing):
                    if b.name not in live and b.generation and b.generation > kept.get(b.name, (0, soft))[0]:
                        kept[b.name] = (int(b.generation), soft)
            for name, (generation, soft) in kept.items():
                if soft:
                    self.bucket.restore_blob(name, generation=generation, retry=self.retry)
                else:
                    self.bucket.copy_blob(
                        self.bucket.blob(name),
                        self.bucket,
                        name,
                        source_generation=generation,
                        retry=self.retry,
                    )
        except _FAILURES as e:
            raise self._fail("undelete", prefix, e) from e
        return tuple(sorted(name[len(self.prefix) :] for name in kept))


class _Failing(io.RawIOBase):
    """A download stream whose later requests fail as the repository's errors do."""

    def __init__(self, inner: io.RawIOBase, fail: Any) -> None:
        self.inner, self.fail = inner, fail

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            return self.inner.readinto(b) or 0
        except gexc.NotFound as e:  # replaced or deleted while being read
            raise ObjectMissing(str(e)) from e
        except _FAILURES as e:
            raise self.fail(e) from e
