"""Repository URL -> storage backend. Callers never construct a backend directly."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
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
            endpoint_url=settings.endpoint_url if settings else None,
            region=settings.region if settings else None,
            profile=settings.profile if settings else None,
            storage_class=settings.storage_class if settings else None,
            lock_days=settings.object_lock_days if settings else 0,
            lock_mode=settings.object_lock_mode if settings else "governance",
        )
    if parsed.scheme == "" and url:
        # A bare path is accepted for convenience and made absolute.
        return FileStorage(Path(url).expanduser().resolve())
    raise UsageError(
        f"unsupported repository URL scheme {parsed.scheme!r}: {url}",
        "use file:///path or s3://bucket/prefix",
    )
