"""The ``--json`` documents the agent reads from its children, as types: each command that the
agent runs as a job builds its document here, and the agent reads it back here, so the two can
never drift apart (a field renamed on one side fails the other's validation, in a test, not at
3 AM). A document that does not validate is a failed job, said with what was wrong."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .backup.prune import PruneReport
from .oplog.compaction import CompactionReport
from .secrets import redact
from .verify.sampling import SampleReport


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def read(cls, document: Any) -> Self | str:
        """The document, or why it is not one (said in the job's failure)."""
        try:
            return cls.model_validate(document)
        except ValidationError as e:
            first = e.errors()[0]
            return f"its --json document is not a {cls.__name__}: {'.'.join(map(str, first['loc']))}: {first['msg']}"


class DeletedBackup(_Document):
    backup_id: str
    objects: int
    bytes: int


class PruneDocument(_Document):
    """``lifeboat prune --json``."""

    deployment: str
    dry_run: bool
    deleted_backups: list[DeletedBackup]
    deleted_segments: int
    bytes_freed: int

    @staticmethod
    def of(report: PruneReport) -> dict[str, Any]:
        return {**asdict(report), "bytes_freed": report.bytes_freed}


class CompactedArchive(_Document):
    repository: str  # redacted
    deployment: str
    replaced: int  # source segments merged away
    merged: int  # merged segments written
    segments_before: int
    segments_after: int
    locked: list[dict[str, str]] = Field(default_factory=list)
    undone: list[str] = Field(default_factory=list)


class CompactDocument(_Document):
    """``lifeboat compact --json``."""

    dry_run: bool
    repositories: list[CompactedArchive]

    @staticmethod
    def of(dry_run: bool, done: list[tuple[str, CompactionReport]]) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "repositories": [{"repository": redact(url), **asdict(report)} for url, report in done],
        }


class SampleDocument(_Document):
    """``lifeboat verify --sample --json``: the day's read-back of one repository."""

    objects: int
    checked: int
    damaged: dict[str, str]
    ok: bool

    @staticmethod
    def of(report: SampleReport) -> dict[str, Any]:
        return report.describe()
