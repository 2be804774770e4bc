"""S3 (and S3-compatible: MinIO, Ceph RGW, R2, B2, Wasabi) storage: ``s3://bucket/prefix``.

boto3 does the protocol work: streaming multipart uploads (a large object never sits whole
in memory; a failed upload is aborted, so nothing half-written is ever visible), ranged
reads, retries with backoff on throttling and transient errors, timeouts. Credentials,
region and endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles,
``AWS_DEFAULT_REGION``). ``create`` is a conditional write (``If-None-Match: *``), so two
processes racing for a lease or a repository marker cannot both win.

Listings on S3 carry no user metadata: ``list(with_meta=True)`` asks for it object by object
(one HEAD each), so only callers that need it ask.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import RepositoryError
from . import layout
from .storage import ObjectInfo, ObjectMissing, check_key
from .streams import BUFFER, Counting

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},  # backoff with jitter on 5xx, throttling, timeouts
    connect_timeout=10,
    read_timeout=60,
)
_TRANSFER = TransferConfig(multipart_threshold=32 << 20, multipart_chunksize=16 << 20, max_concurrency=4)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_EXISTS = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        storage_class: str | None = None,
        lock_days: int = 0,
        lock_mode: str = "governance",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        self.client = client or session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=_CONFIG
        )
        self.extra = {"StorageClass": storage_class} if storage_class else {}
        self.lock_days, self.lock_mode = lock_days, lock_mode.upper()

    def _retention(self, key: str) -> dict[str, Any]:
        """Object Lock for objects that never change: a stolen credential cannot delete or
        overwrite them (their versions) before the retention ends."""
        if not self.lock_days or not layout.is_immutable(key):
            return {}
        until = datetime.now(UTC) + timedelta(days=self.lock_days)
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until}

    def _key(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    def _fail(self, what: str, key: str, e: Exception) -> RepositoryError:
        code = e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None
        if code == "NoSuchBucket":
            return RepositoryError(
                f"S3 bucket {self.bucket} of {self.url} does not exist",
                "create it first (Lifeboat never creates buckets: their region, versioning, Object Lock "
                "and access policy are the owner's choice; Object Lock can only be enabled at creation)",
            )
        return RepositoryError(
            f"S3 {what} of {self.url}/{key} failed: {e}", "check the bucket, credentials and endpoint"
        )

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        counted = Counting(stream)
        try:
            self.client.upload_fileobj(
                io.BufferedReader(counted, BUFFER),
                self.bucket,
                self._key(key),
                ExtraArgs={"Metadata": dict(meta or {}), **self.extra, **self._retention(key)},
                Config=_TRANSFER,
            )
        except (ClientError, BotoCoreError) as e:
            raise self._fail("upload", key, e) from e
        return ObjectInfo(key, counted.size, dict(meta or {}))

    def create(self, key: str, data: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*", **self._retention(key)
            )
            return True
        except ClientError as e:
            if _code(e) in _EXISTS:
                return False
            raise self._fail("conditional create", key, e) from e
        except BotoCoreError as e:
            raise self._fail("conditional create", key, e) from e

    def locked_until(self, key: str) -> datetime | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as e:
            if _code(e) in _MISSING:
                return None
            raise self._fail("stat", key, e) from e
        until = head.get("ObjectLockRetainUntilDate")
        return until if isinstance(until, datetime) and until > datetime.now(UTC) else None

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return got["Body"].read(), str(got["ETag"])
        except ClientError as e:
            if _code(e) in _MISSING:
                raise ObjectMissing(key) from e
            raise self._fail("read", key, e) from e
        except BotoCoreError as e:
            raise self._fail("read", key, e) from e

    def replace(self, key: str, data: bytes, version: str) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=version)
            return True
        except ClientError as e:
            if _code(e) in _EXISTS or _code(e) in _MISSING:
                return False
            raise self._fail("conditional replace", key, e) from e
        except BotoCoreError as e:
            raise self._fail("conditional replace", key, e) from e

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            args["Range"] = f"bytes={offset}-{end}"
        try:
            body = self.client.get_object(**args)["Body"]
        except ClientError as e:
            if _code(e) in _MISSING:
                raise ObjectMissing(key) from e
            if _code(e) == "InvalidRange":  # reading from the very end: nothing there
                return io.BytesIO(b"")
            raise self._fail("read", key, e) from e
        except BotoCoreError as e:
            raise self._fail("read", key, e) from e
        return io.BufferedReader(Counting(body, owns=True), BUFFER)

    def stat(self, key: str) -> ObjectInfo:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as e:
            if _code(e) in _MISSING:
                raise ObjectMissing(key) from e
            raise self._fail("stat", key, e) from e
        except BotoCoreError as e:
            raise self._fail("stat", key, e) from e
        return ObjectInfo(key, int(head["ContentLength"]), dict(head.get("Metadata") or {}))

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix) :]
                    if not with_meta:
                        yield ObjectInfo(key, int(obj["Size"]))
                        continue
                    try:
                        yield self.stat(key)
                    except ObjectMissing:
                        continue  # deleted while we listed
        except (ClientError, BotoCoreError) as e:
            raise self._fail("listing", prefix, e) from e

    def undelete(self, prefix: str) -> tuple[str, ...]:
        """Removes each delete marker that is a key's newest version: the version under it
        is current again, as it was (a versioned bucket keeps it; Object Lock even more so)."""
        markers: list[dict[str, str]] = []
        try:
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                markers += [
                    {"Key": m["Key"], "VersionId": m["VersionId"]}
                    for m in page.get("DeleteMarkers", [])
                    if m.get("IsLatest")
                ]
            for i in range(0, len(markers), 1000):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": markers[i : i + 1000], "Quiet": True}
                )
        except (ClientError, BotoCoreError) as e:
            raise self._fail("undelete", prefix, e) from e
        return tuple(sorted(m["Key"][len(self.prefix) :] for m in markers))

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        """Aborts multipart uploads started over ``older_than_s`` ago and never completed
        (their parts are billed until then)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        found = []
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            ):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] > cutoff:
                        continue
                    if not dry_run:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                    found.append(upload["Key"][len(self.prefix) :])
        except (ClientError, BotoCoreError) as e:
            raise self._fail("sweep partial uploads", self.prefix, e) from e
        return tuple(sorted(found))

    def delete(self, keys: Iterable[str]) -> None:
        batch = [self._key(k) for k in keys]
        for i in range(0, len(batch), 1000):
            chunk = batch[i : i + 1000]
            try:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                )
            except (ClientError, BotoCoreError) as e:
                raise self._fail("delete", chunk[0], e) from e
