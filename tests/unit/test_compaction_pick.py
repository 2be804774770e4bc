"""How readers choose among segments while compaction has a stretch held twice (issue 36): the
merged segment, never both, and the originals again when the merged one is known damaged."""

from __future__ import annotations

import itertools

from bson import Timestamp

from mongo_lifeboat.oplog.compaction import Level, levels_of
from mongo_lifeboat.oplog.segments import Segment, pick


def seg(key: str, start: int, end: int, entries: int = 1) -> Segment:
    return Segment(key, Timestamp(start, 1), Timestamp(end, 1), entries, 10, "0" * 64, "", "")


ORIGINALS = [seg("a", 100, 101), seg("b", 101, 102), seg("c", 102, 103), seg("d", 103, 104)]
MERGED = seg("m", 100, 103, 3)  # a, b and c merged; d is newer


def keys(segments: list[Segment]) -> list[str]:
    return [s.key for s in segments]


def test_a_merged_segment_is_read_instead_of_what_it_contains() -> None:
    assert keys(pick(ORIGINALS)) == ["a", "b", "c", "d"]
    assert keys(pick([*ORIGINALS, MERGED])) == ["m", "d"]
    # killed while deleting the sources: what is left of them is still left out
    assert keys(pick([ORIGINALS[1], MERGED, ORIGINALS[3]])) == ["m", "d"]
    # levels: an hour's merge over minutes' merges and originals, all held at once
    hour = seg("h", 100, 104, 4)
    assert keys(pick([*ORIGINALS, MERGED, hour])) == ["h"]


def test_a_damaged_merge_gives_way_to_its_sources_only_when_they_chain_through_it() -> None:
    assert keys(pick([*ORIGINALS, MERGED], damaged={"m"})) == ["a", "b", "c", "d"]
    # one source already gone: the merged segment stays (a gap, shown as damaged, to repair)
    assert keys(pick([ORIGINALS[0], ORIGINALS[2], MERGED, ORIGINALS[3]], damaged={"m"})) == ["m", "d"]


def test_no_entry_is_counted_twice() -> None:
    for listed in ([*ORIGINALS, MERGED], [MERGED, *ORIGINALS[2:]], [*ORIGINALS, MERGED, MERGED]):
        chosen = pick(listed)
        assert sum(s.entries for s in chosen) == 4
        assert all(a.end <= b.start for a, b in itertools.pairwise(chosen))


def test_the_plans_settings_become_levels() -> None:
    assert levels_of(3600.0, 86400.0) == [Level(3600.0, 60), Level(86400.0, 3600)]
    assert levels_of(None, 86400.0) == [Level(86400.0, 3600)]
    assert levels_of(None, None) == []
