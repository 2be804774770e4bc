"""The timeline's windows and its one-line verdict (pure functions, hand-made facts)."""

from __future__ import annotations

from bson import Timestamp

from mongo_lifeboat.oplog.segments import Segment
from mongo_lifeboat.oplog.timeline import build_timeline
from mongo_lifeboat.repo.manifest import Manifest
from mongo_lifeboat.timestamps import to_str

from ..support.manifests import make_manifest


def _backup(backup_id: str, end: int) -> Manifest:
    return make_manifest(backup_id, to_str(Timestamp(end, 1)))


def _segment(start: int, end: int) -> Segment:
    return Segment("k", Timestamp(start, 1), Timestamp(end, 1), 1, 1, "0", "", "")


def test_backups_at_the_same_point_share_one_window() -> None:
    t = build_timeline([_backup("20261124T000000Z", 1000), _backup("20261124T000100Z", 1000)], [])
    assert [(w.start, w.backups) for w in t.windows] == [
        (Timestamp(1000, 1), ["20261124T000000Z", "20261124T000100Z"])
    ]


def test_the_verdict_never_claims_one_range_over_disjoint_windows() -> None:
    segments = [_segment(1000, 1100), _segment(2000, 2100)]  # a gap between them
    t = build_timeline([_backup("a", 1000), _backup("b", 2000)], segments)
    assert len(t.windows) == 2 and len(t.gaps) == 1
    verdict = t.verdict()
    assert verdict.startswith("restorable in 2 separate windows; the latest from ")
    assert "1970-01-01T00:16:40" not in verdict  # the first window's start is not claimed as a range start
    one = build_timeline([_backup("a", 1000)], [_segment(1000, 1100)])
    assert one.verdict().startswith("restorable from ")
