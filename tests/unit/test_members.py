"""Member choice (DESIGN §3): hidden > healthy secondary > primary. Pure logic over member lists
(SecantusDB is a single-node set, so secondaries cannot be shown by a real server here)."""

from __future__ import annotations

import pytest

from mongo_lifeboat.errors import SourceUnreachable, UsageError
from mongo_lifeboat.mongo.members import Member, choose

P = Member("p:1", "PRIMARY")
S_FRESH = Member("s1:1", "SECONDARY", lag_s=1.0)
S_STALE = Member("s2:1", "SECONDARY", lag_s=120.0)
HIDDEN = Member("h:1", "SECONDARY", hidden=True, lag_s=5.0)


def test_auto_prefers_hidden_then_fresh_secondary_then_primary() -> None:
    assert choose([P, S_FRESH, HIDDEN], "auto") == HIDDEN
    assert choose([P, S_FRESH, S_STALE], "auto") == S_FRESH
    assert choose([P, S_STALE], "auto") == P


def test_explicit_choices() -> None:
    assert choose([P, S_FRESH], "primary") == P
    assert choose([P, S_FRESH, S_STALE], "secondary") == S_FRESH
    assert choose([P, S_FRESH], "s1:1") == S_FRESH


def test_impossible_choices_are_clear_errors() -> None:
    with pytest.raises(SourceUnreachable, match="no secondary"):
        choose([P, S_STALE], "secondary")
    with pytest.raises(UsageError, match="nope:1 is not a member") as info:
        choose([P], "nope:1")
    assert info.value.hint == "members: p:1"
    with pytest.raises(SourceUnreachable, match="no primary"):
        choose([S_FRESH], "primary")
