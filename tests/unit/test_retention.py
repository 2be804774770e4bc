"""Retention (issue 9 item 6), as a property: over random histories of base backups, chained
segments and gaps, and random policies, every restore point the policy promises stays
restorable after the prune, and nothing is kept that no promise needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_lifeboat.backup.retention import Policy, plan_prune
from mongo_lifeboat.catalog.timeline import build_timeline
from mongo_lifeboat.oplog.segments import Segment
from mongo_lifeboat.repo.manifest import Manifest
from mongo_lifeboat.timestamps import just_after

from ..support.manifests import make_manifest

HOUR = 3600
T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def _segment(start: int, end: int) -> Segment:
    return Segment(f"rs0/oplog/{start}-{end}", Timestamp(start, 1), Timestamp(end, 1), 1, 1, "", "", "")


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Manifest], list[Segment], int]:
    """Segments of 1-30 h, some missing (gaps); base backups at random segment boundaries."""
    t, segments, boundaries = T0, [], [T0]
    for _ in range(draw(st.integers(1, 60))):
        length = draw(st.integers(1, 30)) * HOUR
        if not draw(st.booleans()) or draw(st.integers(0, 9)) > 0:  # mostly archived, sometimes a gap
            segments.append(_segment(t, t + length))
        t += length
        boundaries.append(t)
    picks = draw(st.lists(st.sampled_from(boundaries), min_size=1, max_size=25, unique=True))
    manifests = [make_manifest(f"b{p}", f"{p}:1") for p in sorted(picks)]
    return manifests, segments, t


def _restorable(manifests: list[Manifest], segments: list[Segment], p: Timestamp) -> bool:
    return build_timeline(manifests, segments).window_for(p) is not None


@settings(max_examples=300, deadline=None)
@given(
    histories(),
    st.integers(0, 5),
    st.integers(0, 10),
    st.integers(0, 6),
    st.integers(0, 40 * 24),
    st.integers(0, 48),
)
def test_every_promised_point_stays_restorable_and_nothing_else_is_kept(
    history: tuple[list[Manifest], list[Segment], int],
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    window_h: int,
    now_after_h: int,
) -> None:
    manifests, segments, end = history
    now = datetime.fromtimestamp(end + now_after_h * HOUR, UTC)
    policy = Policy(keep_last, keep_daily, keep_weekly, window_h * HOUR)
    plan = plan_prune(manifests, segments, policy, now)
    kept = [m for m in manifests if m.backup_id in plan.keep]
    assert sorted(plan.keep) + plan.delete == sorted(plan.keep) + [
        m.backup_id for m in sorted(manifests, key=lambda m: m.end) if m.backup_id not in plan.keep
    ]
    assert len(plan.keep_segments) + len(plan.delete_segments) == len(segments)

    # keep_last: the newest N are kept; daily/weekly: one per period is kept for each of the newest periods.
    newest = sorted(manifests, key=lambda m: m.end, reverse=True)
    assert {m.backup_id for m in newest[:keep_last]} <= set(plan.keep)
    days = sorted({datetime.fromtimestamp(m.end.time, UTC).date() for m in manifests}, reverse=True)[
        :keep_daily
    ]
    for day in days:
        assert any(datetime.fromtimestamp(m.end.time, UTC).date() == day for m in kept)

    # The recovery window: every point in it that is restorable now stays restorable.
    since = int(now.timestamp()) - window_h * HOUR
    before = build_timeline(manifests, segments)
    probes = {b for m in manifests for b in (m.end.time, m.end.time + 1)} | {s.end.time for s in segments}
    probes |= {since + 1, int(now.timestamp())}
    for t in sorted(probes):
        p = Timestamp(t, 2)
        if window_h and t > since and before.window_for(p) is not None:
            assert _restorable(kept, plan.keep_segments, p), f"lost restorable point {t} (since {since})"

    # Nothing beyond the policy: every kept base has a reason, and every kept segment is needed by a
    # promised range or continues the archive after the newest base backup.
    assert all(plan.keep[m.backup_id] for m in kept)
    newest_end = max(m.end for m in manifests)
    for s in plan.keep_segments:
        if s.end > newest_end:
            continue
        without = [x for x in plan.keep_segments if x is not s]
        candidates = [s.end, *(just_after(a) for a, _ in plan.promised), *(b for _, b in plan.promised)]
        assert any(
            a < p <= b and _restorable(kept, plan.keep_segments, p) and not _restorable(kept, without, p)
            for p in candidates
            for a, b in plan.promised
        ), f"segment {s.key} is kept but no promise needs it"


def test_an_empty_policy_is_refused_by_the_caller() -> None:
    assert Policy().empty and not Policy(keep_last=1).empty


def _snapshot(i: int, start: int, end: int) -> Any:
    from mongo_lifeboat.catalog.snapshots import SnapshotManifest

    return SnapshotManifest(
        snapshot_id=f"s{i}", deployment="rs0", member="m:1", server_version="7", provider="command",
        provider_ids=[f"p{i}"], volumes=[], consistency="cold", started_at="", finished_at="", duration_s=0,
        consistent_from=f"{start}:1", consistent_to=f"{end}:1", tool_version="t",
    )  # fmt: skip


def test_snapshots_are_kept_by_the_same_rules_with_the_archive_that_rolls_them_forward() -> None:
    segments = [_segment(T0 + h * HOUR, T0 + (h + 1) * HOUR) for h in range(10)]
    snaps = [_snapshot(i, T0 + h * HOUR + 60, T0 + h * HOUR + 120) for i, h in enumerate((1, 4, 7))]
    now = datetime.fromtimestamp(T0 + 10 * HOUR, UTC)
    plan = plan_prune([], segments, Policy(keep_last=2), now, snaps)
    assert plan.delete_snapshots == ["s0"] and sorted(plan.keep_snapshots) == ["s1", "s2"]
    kept = {s.start.time for s in plan.keep_segments}
    # Each kept snapshot keeps the hour that proves and reaches its data (restorable at its own
    # point, as keep_last promises), and the newest the archive after it; nothing else stays.
    assert kept == {T0 + h * HOUR for h in (4, 7, 8, 9)}
    assert {s.start.time for s in plan.delete_segments} == {T0 + h * HOUR for h in (0, 1, 2, 3, 5, 6)}
    assert plan_prune([], segments, Policy(keep_last=3), now, snaps).delete_snapshots == []
