"""The daily read-back's arcs tile the circle: every object is read within the cycle."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from mongo_lifeboat.verify.sampling import share_of, todays


@given(
    keys=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=200, unique=True),
    share=st.sampled_from([0.05, 1 / 7, 0.3, 1.0]),
    first_day=st.integers(min_value=0, max_value=40_000),
)
def test_every_object_is_read_within_the_cycle(keys: list[str], share: float, first_day: int) -> None:
    days = range(first_day, first_day + math.ceil(1 / share))
    assert all(any(todays(k, share, d) for d in days) for k in keys)


def test_a_day_reads_about_its_share() -> None:
    keys = [f"rs0/backups/20261203T000000Z/shop/orders.{i}.bson.zst" for i in range(20_000)]
    for share in (0.05, 1 / 7):
        read = sum(todays(k, share, 20_425) for k in keys)
        assert abs(read / len(keys) - share) < 0.02, (share, read)


def test_the_share_is_enough_for_the_cycle() -> None:
    assert share_of(0.05, 7 * 86400) == 1 / 7  # 5 % a day would take 20 days: a week wins
    assert share_of(0.5, 7 * 86400) == 0.5
    assert share_of(0.05, 3600) == 1.0  # a cycle under a day: everything, every run
