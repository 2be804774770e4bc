"""The timeline's windows and its one-line verdict (pure functions, hand-made facts)."""

from __future__ import annotations

import pytest
from bson import Timestamp

from mongo_lifeboat.catalog.timeline import build_timeline
from mongo_lifeboat.cli.remedies import command_line
from mongo_lifeboat.oplog.segments import Segment
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


def test_a_snapshot_base_opens_a_window_and_a_restore_from_it_says_what_to_do_first() -> None:
    from mongo_lifeboat.catalog.snapshots import SnapshotManifest
    from mongo_lifeboat.errors import NotRestorable
    from mongo_lifeboat.mongo.nsmap import NamespaceMap
    from mongo_lifeboat.restore.pitr import plan_pitr

    t0 = 1_800_000_000
    segments = [
        Segment(
            f"rs0/oplog/{i}", Timestamp(t0 + i * 100, 1), Timestamp(t0 + (i + 1) * 100, 1), 1, 1, "", "", ""
        )
        for i in range(3)
    ]
    snap = SnapshotManifest(
        snapshot_id="s1", deployment="rs0", member="m:1", server_version="7", provider="zfs", provider_ids=["p@s1"],
        volumes=[], consistency="journal", started_at="", finished_at="", duration_s=0,
        consistent_from=f"{t0 + 50}:1", consistent_to=f"{t0 + 60}:1", tool_version="t",
    )  # fmt: skip
    timeline = build_timeline([], segments, None, [snap])
    assert [(w.start, w.backups) for w in timeline.windows] == [(Timestamp(t0 + 60, 1), ["snapshot:s1"])]
    # Its data could end anywhere in [from, to]: an archive that starts inside that range cannot roll it.
    assert build_timeline([], segments[1:], None, [snap]).windows == []
    with pytest.raises(NotRestorable) as caught:
        plan_pitr([], timeline, segments, Timestamp(t0 + 250, 1), NamespaceMap.build())
    assert "--base snapshot:s1" in caught.value.worded_hint(command_line)
    assert "snapshot:s1" in caught.value.hint and "--" not in caught.value.hint


def test_a_base_the_archiver_has_not_reached_does_not_collapse_the_window() -> None:
    """Right after a scheduled backup: the archive ends at 1100, the new base is at 1105."""
    t = build_timeline([_backup("old", 1000), _backup("new", 1105)], [_segment(1000, 1100)])
    assert t.main is not None and (t.main.start, t.main.backups) == (Timestamp(1000, 1), ["old"])
    assert [w.backups for w in t.ahead] == [["new"]]
    verdict = t.verdict()
    assert verdict.startswith("restorable from 1970-01-01T00:16:40Z to 1970-01-01T00:18:20Z")
    assert "and to base backup new at its own point" in verdict
    assert "separate" not in verdict
    # Once the archive passes it, it is one window.
    later = build_timeline([_backup("old", 1000), _backup("new", 1105)], [_segment(1000, 1200)])
    assert [w.backups for w in later.windows] == [["old", "new"]] and not later.ahead


def test_windows_that_touch_are_one_and_the_end_shown_is_the_last_entry() -> None:
    t = build_timeline([_backup("a", 1000), _backup("b", 1100)], [_segment(1000, 1100)])
    assert [w.backups for w in t.windows] == [["a", "b"]]
    assert t.windows[0].describe()["through"] == "1100:1"  # the archive's last entry, as the archiver says


def test_a_window_confirmed_quiet_past_its_last_entry_shows_that_entry_not_a_placeholder() -> None:
    """The archiver confirmed nothing was written after 1100:1 until 1200: the window ends at
    1200:0 (exclusive), and the last entry a restore to it applies is 1100:1, never 1199:4294967295."""
    state = {"position": "1100:1", "confirmed_at": "1970-01-01T00:20:00+00:00"}
    t = build_timeline([_backup("a", 1000)], [_segment(1000, 1100)], state)
    described = t.windows[0].describe()
    assert described["end"] == "1200:0" and described["through"] == "1100:1"
    assert "4294967295" not in str(t.describe())
