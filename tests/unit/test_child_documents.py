"""The --json documents the agent reads from its children: what a command builds, the agent
reads back whole (through JSON, as over the pipe); what does not fit is said, not guessed."""

from __future__ import annotations

import json

from mongo_lifeboat.backup.prune import PruneReport
from mongo_lifeboat.child_documents import CompactDocument, PruneDocument, SampleDocument
from mongo_lifeboat.oplog.compaction import CompactionReport
from mongo_lifeboat.verify.sampling import SampleReport


def _over_the_pipe(document: object) -> object:
    return json.loads(json.dumps(document))


def test_prune_compact_and_sample_documents_read_back_as_built() -> None:
    prune = PruneReport("rs0", dry_run=False, deleted_segments=7, segment_bytes=100)
    prune.deleted_backups.append({"backup_id": "20261205T010000Z", "objects": 12, "bytes": 900})
    read = PruneDocument.read(_over_the_pipe(PruneDocument.of(prune)))
    assert isinstance(read, PruneDocument)
    assert [b.backup_id for b in read.deleted_backups] == ["20261205T010000Z"]
    assert (read.deleted_segments, read.bytes_freed) == (7, 1000)

    compacted = CompactionReport(
        "rs0", dry_run=False, segments_before=60, segments_after=2, merged=1, replaced=59
    )
    secret = "https://key:s3cr3t@example.com/bucket"
    doc = CompactDocument.read(_over_the_pipe(CompactDocument.of(False, [(secret, compacted)])))
    assert isinstance(doc, CompactDocument)
    assert [(r.replaced, r.merged) for r in doc.repositories] == [(59, 1)]
    assert "s3cr3t" not in doc.repositories[0].repository

    sample = SampleReport(
        "2026-12-05T04:30:00+00:00", 0.05, 20, objects=400, checked=21, damaged={"k": "bad"}
    )
    read_sample = SampleDocument.read(_over_the_pipe(SampleDocument.of(sample)))
    assert isinstance(read_sample, SampleDocument)
    assert (read_sample.checked, read_sample.objects, read_sample.damaged, read_sample.ok) == (
        21,
        400,
        {"k": "bad"},
        False,
    )


def test_a_document_that_does_not_fit_is_said_with_the_field() -> None:
    built = PruneDocument.of(PruneReport("rs0", dry_run=False))
    renamed = {("segments_deleted" if k == "deleted_segments" else k): v for k, v in built.items()}
    why = PruneDocument.read(renamed)
    assert why == "its --json document is not a PruneDocument: deleted_segments: Field required"
    assert isinstance(CompactDocument.read(None), str)  # a child that printed nothing
