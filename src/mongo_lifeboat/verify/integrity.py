"""The archived oplog's integrity: every segment's object, and the chain between them."""

from __future__ import annotations

import itertools

from ..oplog.segments import list_gaps, list_segments
from ..repo.damage import reconcile
from ..repo.integrity import VerifyReport, verify_objects
from ..repo.storage import Storage
from ..timestamps import to_str


def verify_segments(storage: Storage, deployment: str, jobs: int = 4) -> VerifyReport:
    """Every archived segment (checksum, BSON) and the chain: a break that no recorded gap
    explains means a segment is missing."""
    segments = list_segments(storage, deployment)
    report = verify_objects(storage, f"oplog:{deployment}", [s.file for s in segments], jobs)
    # What was found damaged is recorded (a gap in the timeline from now on); what reads
    # intact again (repaired) is a gap no more.
    reconcile(
        storage, deployment, [s.key for s in segments], {p["object"]: p["problem"] for p in report.problems}
    )
    recorded = {(g.start, g.end) for g in list_gaps(storage, deployment)}
    for prev, nxt in itertools.pairwise(segments):
        if nxt.start > prev.end and not any(a == prev.end for a, _ in recorded):
            report.problems.append(
                {
                    "object": f"segments after {prev.key}",
                    "problem": f"missing segment(s): nothing covers {to_str(prev.end)} .. {to_str(nxt.start)}",
                }
            )
        elif nxt.start < prev.end:
            report.problems.append({"object": nxt.key, "problem": f"overlaps {prev.key}"})
    return report
