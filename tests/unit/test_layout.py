"""Object names: safe, unique, and time-ordered."""

from __future__ import annotations

import io
from pathlib import Path

from bson import Timestamp

from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo import layout
from mongo_lifeboat.repo.filesystem import FileStorage
from mongo_lifeboat.timestamps import from_hex16, to_hex16


def test_hex16_sorts_like_time() -> None:
    stamps = [Timestamp(5, 10), Timestamp(5, 9), Timestamp(4, 2**32 - 1), Timestamp(2**31, 0)]
    assert sorted(stamps) == sorted(stamps, key=to_hex16)
    assert all(from_hex16(to_hex16(t)) == t for t in stamps)


def test_escaping_blocks_traversal_and_hidden_names() -> None:
    for evil in ["..", "../../etc", "a/b", "a\\b", ".hidden", "nul\x00byte", "tab\tname", "100%"]:
        name = layout.escape_name(evil)
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert not name.startswith(".")
        assert name not in ("", ".", "..")


def test_escaping_is_injective_for_tricky_pairs() -> None:
    pairs = [("a/b", "a%2Fb"), ("x%", "x%25"), (".a", "%2Ea")]
    for a, b in pairs:
        assert layout.escape_name(a) != layout.escape_name(b)


def test_unicode_and_spaces_stay_readable() -> None:
    assert layout.escape_name("Événements clients") == "Événements clients"


def test_long_names_are_bounded_and_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    ea, eb = layout.escape_name(a), layout.escape_name(b)
    assert ea != eb
    assert len(ea.encode()) <= 200 and len(eb.encode()) <= 200


def test_backup_keys_parse_back() -> None:
    key = layout.data_key("rs0", "20261124T021300Z", "db", "c/oll", 3)
    assert key == "rs0/backups/20261124T021300Z/data/db/c%2Foll.3.bson.zst"
    assert layout.parse_backup_key(key) == ("rs0", "20261124T021300Z", "data/db/c%2Foll.3.bson.zst")
    assert layout.parse_backup_key("rs0/oplog/x") is None


def test_bracket_key_span_parses() -> None:
    key = layout.bracket_key("rs0", "20261124T021300Z", Timestamp(10, 1), Timestamp(12, 7))
    assert layout.parse_span(key) == (Timestamp(10, 1), Timestamp(12, 7))


def test_segment_names_carry_their_facts_and_old_names_still_read(tmp_path: Path) -> None:
    start, end = Timestamp(1_800_000_000, 3), Timestamp(1_800_000_010, 1)
    facts = layout.SegmentFacts(42, 1234, "ab" * 32, 1_800_000_000_123, None)
    key = layout.segment_key("rs0", start, end, facts)
    assert layout.is_segment_key(key) and layout.parse_span(key) == (start, end)
    assert layout.segment_facts(key) == facts and len(key.rsplit("/", 1)[-1]) < 200
    old = layout.segment_key("rs0", end, Timestamp(1_800_000_020, 1))
    assert layout.segment_facts(old) is None and layout.is_segment_key(old)
    storage = FileStorage(tmp_path)
    storage.put(key, io.BytesIO(b"x" * 1234))
    storage.put(old, io.BytesIO(b"y"), {"entries": "7", "sha256": "cd" * 32, "size": "1", "last_wall": "w"})
    first, second = list_segments(storage, "rs0")
    assert (first.entries, first.size, first.sha256, first.first_wall, first.last_wall) == (
        42, 1234, "ab" * 32, "2027-01-15T08:00:00.123Z", ""
    )  # fmt: skip
    assert (second.entries, second.sha256, second.last_wall) == (7, "cd" * 32, "w")


def test_only_a_well_formed_name_is_a_segment() -> None:
    """Found by fuzzing: a stray ``.bson.zst`` in the archive's folders broke every listing."""
    good = "rs0/oplog/20261124/6b1151fc000003e3-6b1151fc000003e4.1.131.1.1.ab.bson.zst"
    assert layout.is_segment_key(good)
    assert layout.is_segment_key("rs0/oplog/20261124/6b1151fc000003e3-6b1151fc000003e4.bson.zst")
    for stray in (
        ".bson.zst",
        "x-y.bson.zst",
        "6b1151fc000003e3.bson.zst",
        "6b1151fc000003e3-6b1151fc000003e4.json",
    ):
        assert not layout.is_segment_key(f"rs0/oplog/20261124/{stray}")
