"""Live detection (issue 37): the archiver's scoring of what it archives — incidents as they end,
change-rate spikes against a collection's own baseline, the ransom pattern — on synthetic entries
in the oplog's own form."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import Timestamp

from mongo_lifeboat.oplog.detect import DetectSettings, LiveDetector

T0 = datetime(2026, 12, 5, 2, 0, 0)


class Oplog:
    def __init__(self) -> None:
        self.n = 0

    def entry(
        self, op: str, ns: str, wall: datetime, o: dict[str, Any], o2: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.n += 1
        e = {"ts": Timestamp(int(wall.timestamp()), self.n), "op": op, "ns": ns, "o": o, "wall": wall}
        if o2 is not None:
            e["o2"] = o2
        return e


def test_a_bulk_delete_is_said_once_when_it_ends_with_its_undo() -> None:
    log, detector = Oplog(), LiveDetector()
    burst = [
        log.entry("d", "shop.orders", T0 + timedelta(microseconds=300 * i), {"_id": i}) for i in range(500)
    ]
    assert detector.feed(burst[:250]) == []  # still going on
    assert detector.feed(burst[250:]) == []
    found = detector.idle(T0 + timedelta(seconds=5))
    assert [(d.kind, d.ns, d.count) for d in found] == [("bulk-delete", "shop.orders", 500)]
    assert found[0].incident_id == f"inc-{burst[0]['ts'].time:08x}{burst[0]['ts'].inc:08x}"
    assert found[0].remedy is not None and found[0].remedy.args == {"incident": found[0].incident_id}
    assert detector.idle(T0 + timedelta(seconds=9)) == []  # said once


def test_a_spike_against_the_collections_own_baseline() -> None:
    log = Oplog()
    detector = LiveDetector(DetectSettings(window_s=10.0, spike_min=500, spike_factor=10.0, learn_windows=3))
    said = []
    t = T0
    for window in range(6):  # a steady 20 writes a window (its baseline), then 2,000 in one
        n = 2000 if window == 4 else 20
        step = 10.0 / n
        said += detector.feed(
            [
                log.entry("i", "app.events", t + timedelta(seconds=step * i), {"_id": f"{window}-{i}"})
                for i in range(n)
            ]
        )
        t += timedelta(seconds=10)
    spikes = [d for d in said if d.kind == "spike"]
    assert [(d.ns, d.count) for d in spikes] == [("app.events", 2000)]
    assert "100x its usual" in spikes[0].summary


def test_no_spike_while_a_collection_is_learned_nor_on_steady_traffic() -> None:
    log, detector = Oplog(), LiveDetector(DetectSettings(spike_min=500, learn_windows=3))
    said, t = [], T0
    for _window in range(12):
        said += detector.feed(
            [
                log.entry("u", "app.carts", t + timedelta(milliseconds=5 * i), {"$set": {"n": i}}, {"_id": i})
                for i in range(1500)
            ]
        )
        t += timedelta(seconds=10)
    assert [d for d in said if d.kind == "spike"] == []


def test_the_ransom_pattern_databases_dropped_then_a_note() -> None:
    log, detector = Oplog(), LiveDetector()
    said = detector.feed(
        [
            log.entry("c", "shop.$cmd", T0, {"drop": "orders"}),
            log.entry("c", "shop.$cmd", T0, {"dropDatabase": 1}),
            log.entry("c", "billing.$cmd", T0 + timedelta(seconds=1), {"dropDatabase": 1}),
            log.entry("c", "README.$cmd", T0 + timedelta(seconds=20), {"create": "RECOVER_YOUR_DATA"}),
            log.entry(
                "i",
                "README.RECOVER_YOUR_DATA",
                T0 + timedelta(seconds=20),
                {"_id": 1, "content": "All your data is backed up. Send 0.01 BTC to recover it."},
            ),
        ]
    )
    ransom = [d for d in said if d.kind == "ransom"]
    assert len(ransom) == 1 and ransom[0].ns == "README.RECOVER_YOUR_DATA"
    assert "shop" in ransom[0].summary and "billing" in ransom[0].summary
    assert {d.kind for d in said + detector.idle(T0 + timedelta(minutes=1))} >= {"dropDatabase", "ransom"}


def test_a_note_without_a_drop_before_it_is_no_ransom() -> None:
    log, detector = Oplog(), LiveDetector()
    said = detector.feed(
        [
            log.entry("c", "app.$cmd", T0, {"create": "help"}),
            log.entry("i", "app.help", T0, {"_id": 1, "text": "how to recover your password: read me"}),
        ]
    )
    assert said == []
