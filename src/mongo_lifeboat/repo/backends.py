"""Repository URL -> storage backend. Callers never construct a backend directly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ..errors import UsageError
from .filesystem import FileStorage
from .storage import Storage

if TYPE_CHECKING:
    from ..config import RepositorySettings


def open_storage(url: str, settings: RepositorySettings | None = None) -> Storage:
    """The backend for ``url``, configured by the plan's settings for that repository."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise UsageError(f"file URLs must be local: {url}", "write it as file:///absolute/path")
        path = Path(unquote(parsed.path))
        if not path.is_absolute():
            raise UsageError(f"file URLs need an absolute path: {url}", "write it as file:///absolute/path")
        return FileStorage(path)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise UsageError(f"no bucket in {url}", "write it as s3://bucket/prefix")
        from .s3 import S3Storage  # boto3 is imported only for S3 repositories

        return S3Storage(
            parsed.netloc,
            unquote(parsed.path),
            **_settings(settings, "endpoint_url", "region", "profile", "storage_class"),
            **_lock(settings),
        )
    if parsed.scheme == "gs":
        if not parsed.netloc:
            raise UsageError(f"no bucket in {url}", "write it as gs://bucket/prefix")
        with _extra("gcs", "google", "GCS"):  # google-cloud-storage is imported only for GCS repositories
            from .gcs import GcsStorage

        return GcsStorage(
            parsed.netloc,
            unquote(parsed.path),
            **_settings(settings, "project", "credentials_file", "endpoint_url", "timeout_s"),
            **_lock(settings),
        )
    if parsed.scheme == "azure":
        if not _AZURE_CONTAINER.fullmatch(parsed.netloc):
            raise UsageError(
                f"no valid container in {url}",
                "write it as azure://container/prefix (a container's name is 3-63 lowercase letters, "
                "digits and single hyphens)",
            )
        with _extra("azure", "azure", "Azure"):  # azure-storage-blob is imported only for Azure repositories
            from .azure import AzureStorage

        return AzureStorage(
            parsed.netloc,
            unquote(parsed.path),
            **_settings(settings, "account_url", "connection_string", "account_key"),
            **_lock(settings),
        )
    if parsed.scheme == "" and url:
        # A bare path is accepted for convenience and made absolute.
        return FileStorage(Path(url).expanduser().resolve())
    raise UsageError(
        f"unsupported repository URL scheme {parsed.scheme!r}: {url}",
        "use file:///path, s3://bucket/prefix, gs://bucket/prefix or azure://container/prefix",
    )


def _settings(settings: RepositorySettings | None, *names: str) -> dict[str, Any]:
    """The plan's settings of these names for a backend (none given: the backend's defaults)."""
    return {name: getattr(settings, name) for name in names} if settings else {}


def _lock(settings: RepositorySettings | None) -> dict[str, Any]:
    """Write-once retention, as every object store backend takes it."""
    return (
        {"lock_days": settings.object_lock_days, "lock_mode": settings.object_lock_mode} if settings else {}
    )


_AZURE_CONTAINER = re.compile(r"(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*")


@contextmanager
def _extra(extra: str, package: str, label: str) -> Iterator[None]:
    """A backend whose library is an optional extra that is not installed: say which."""
    try:
        yield
    except ImportError as e:
        if not (e.name or "").startswith(package):
            raise
        raise UsageError(
            f"{label} repositories need the {extra} extra ({e.name} is not installed)",
            f"pip install 'mongo-lifeboat[{extra}]'",
        ) from e
