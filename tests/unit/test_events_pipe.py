"""The events pipe (``lifeboat --events-fd``): what a run writes is what a supervisor reads back,
typed, with credentials redacted on the way."""

from __future__ import annotations

import os

from mongo_lifeboat.events import (
    Event,
    EventPipe,
    PhaseClock,
    Update,
    outcome_of,
    read_event_line,
    update_of,
)


def _read_all(fd: int) -> list[tuple[str, dict[str, object]]]:
    with open(fd, encoding="utf-8") as pipe:
        return [read for line in pipe if (read := read_event_line(line)) is not None]


def test_outcomes_and_updates_come_back_as_they_were_sent_and_redacted() -> None:
    r, w = os.pipe()
    pipe = EventPipe(w)
    secret_uri = "mongodb://backup:hunter2@db.internal:27017/"
    gap = Event("archiver", "failure", "orders", "file:///r", f"gap from {secret_uri}", {"problem": "gap"})
    clock = PhaseClock("restore", pipe.update)
    clock.start("load")
    clock.start("indexes")
    clock.stop()
    pipe.update(Update("backup", "progress", "documents", ns="shop.orders", done=500, bytes=4096))
    pipe.outcome(gap)
    pipe.close()
    lines = _read_all(r)

    assert [t for t, _ in lines] == ["update", "update", "update", "outcome"]
    updates = [update_of(p) for t, p in lines if t == "update"]
    assert [(u.run, u.kind, u.name) for u in updates if u] == [
        ("restore", "phase", "load"),
        ("restore", "phase", "indexes"),
        ("backup", "progress", "documents"),
    ]
    assert updates[2] == Update("backup", "progress", "documents", ns="shop.orders", done=500, bytes=4096)
    outcome = outcome_of(lines[3][1])
    assert outcome is not None and outcome.details == {"problem": "gap"} and outcome.time == gap.time
    assert "hunter2" not in outcome.summary and outcome.summary == gap.summary
    assert set(clock.phases) == {"load", "indexes"}


def test_a_line_that_is_not_an_event_is_ignored() -> None:
    assert read_event_line("segment 1:1 .. 2:2: 5 entries\n") is None
    assert read_event_line('["type", "outcome"]\n') is None
    assert outcome_of({"event": "backup"}) is None  # not a whole outcome
    assert update_of({"run": "backup", "colour": "red"}) is None


def test_a_supervisor_that_went_away_does_not_fail_the_run() -> None:
    r, w = os.pipe()
    os.close(r)
    pipe = EventPipe(w)
    pipe.update(Update("backup", "phase", "export"))  # EPIPE: said nowhere, raised nowhere
    pipe.outcome(Event("backup", "success", "orders", "file:///r", "done"))
