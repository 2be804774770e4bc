"""What a drill proved (its fingerprint), what changed since, and the agent's drill once per change."""

from __future__ import annotations

import json

from mongo_lifeboat.agent.drift import ChangeDrills
from mongo_lifeboat.audit import checks
from mongo_lifeboat.audit.result import Result
from mongo_lifeboat.config import Plan
from mongo_lifeboat.drill.fingerprint import Fingerprint, changes, described, of_plan

from .test_checks import GOOD_PLAN, _drill, good_facts

PROVED = Fingerprint(
    lifeboat="1.0.0",
    plan=of_plan(Plan.model_validate(GOOD_PLAN)),
    server={"version": "7.0.2", "fcv": "7.0"},
    members="m1",
    collections={
        "shop.orders": {"indexes": "i1", "options": "o1"},
        "shop.old": {"indexes": "i", "options": "o"},
    },
    users={"admin.app": "u1"},
    roles={},
)


def test_the_same_setup_has_no_changes_and_one_signature() -> None:
    again = PROVED.model_copy(deep=True)
    assert changes(PROVED, again) == []
    assert PROVED.signature == again.signature


def test_each_part_that_changed_is_named() -> None:
    plan = Plan.model_validate({**GOOD_PLAN, "repository": [{"name": "a", "url": "file:///elsewhere"}]})
    now = PROVED.model_copy(
        update={
            "lifeboat": "1.1.0",
            "plan": of_plan(plan),
            "server": {"version": "8.0.0", "fcv": "7.0"},
            "members": "m2",
            "collections": {
                "shop.orders": {"indexes": "i2", "options": "o1"},
                "shop.new": {"indexes": "i", "options": "o"},
            },
            "users": {"admin.app": "u2", "admin.ops": "u3"},
        }
    )
    found = changes(PROVED, now)
    assert found == [
        "Lifeboat 1.0.0 → 1.1.0",
        "the plan's repositories",
        "the plan's keys",  # the key settings are per repository: a repository less changes them
        "server version 7.0.2 → 8.0.0",
        "the replica set's members",
        "collection shop.new added",
        "collection shop.old dropped",
        "the indexes of shop.orders",
        "user admin.ops added",
        "user admin.app changed",
    ]
    assert PROVED.signature != now.signature
    assert described(found).endswith("and 6 more") and described(found).startswith("Lifeboat 1.0.0 → 1.1.0, ")


def test_what_one_side_did_not_know_is_not_a_change() -> None:
    unknown = Fingerprint(lifeboat=PROVED.lifeboat)  # no plan file, a source that did not answer
    assert changes(PROVED, unknown) == [] and changes(unknown, PROVED) == []


def test_a_plan_part_holds_no_secret() -> None:
    secret = "s3cr3t-Pa55"
    plan = Plan.model_validate(
        {
            **GOOD_PLAN,
            "repository": [{"name": "a", "url": f"s3://bucket/p?secret_key={secret}", "key_file": "/k"}],
        }
    )
    parts = of_plan(plan)
    assert secret not in json.dumps(parts) and set(parts) == {
        "repositories",
        "keys",
        "capture",
        "schedules",
        "objectives",
    }
    assert of_plan(plan)["objectives"] == parts["objectives"]  # the same plan, the same digests


def test_drill_age_says_untested_since_and_what_changed() -> None:
    facts = good_facts()
    proved = PROVED.model_copy(update={"plan": of_plan(facts.plan)})
    facts.drills = [_drill().model_copy(update={"fingerprint": proved})]
    facts.fingerprint = proved.model_copy(deep=True)
    assert checks.check_drill_age(facts).status == "ok"
    facts.fingerprint = proved.model_copy(
        update={
            "collections": {**(proved.collections or {}), "shop.orders": {"indexes": "i9", "options": "o1"}}
        }
    )
    result = checks.check_drill_age(facts)
    assert result.status == "warning", result
    assert result.finding == f"untested since {facts.drills[-1].finished_at}: the indexes of shop.orders"
    assert result.value["signature"] == facts.fingerprint.signature
    assert result.remedy is not None and result.remedy.action == "drill"
    # A drill from before fingerprints: nothing to compare, no warning.
    facts.drills = [_drill()]
    assert checks.check_drill_age(facts).status == "ok"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _drift(signature: str) -> Result:
    return Result("drill-age", "warning", "untested", value={"signature": signature, "changed": ["x"]})


def test_the_agent_drills_once_per_change_after_the_delay() -> None:
    clock = _Clock()
    drills = ChangeDrills(clock)
    assert drills.due(_drift("A"), 60.0, drilling=False) is None  # first seen now
    clock.now += 59
    assert drills.due(_drift("B"), 60.0, drilling=False) is None  # another change joins, same clock
    clock.now += 1
    assert drills.due(_drift("B"), 60.0, drilling=True) is None  # a drill is running: wait for it
    assert drills.due(_drift("B"), 60.0, drilling=False) == ["x"]
    clock.now += 3600
    assert drills.due(_drift("B"), 60.0, drilling=False) is None  # once per change (B failed, say)
    assert drills.due(_drift("C"), 60.0, drilling=False) is None  # a new change: its own delay
    clock.now += 60
    assert drills.due(_drift("C"), 60.0, drilling=False) == ["x"]


def test_no_change_or_never_means_no_drill() -> None:
    drills = ChangeDrills(_Clock())
    ok = Result("drill-age", "ok", "passed", value={"age_s": 1.0})
    assert drills.due(ok, 0.0, drilling=False) is None
    assert drills.due(None, 0.0, drilling=False) is None
    assert drills.due(_drift("A"), None, drilling=False) is None  # after_change = "never"
    assert drills.due(_drift("A"), 0.0, drilling=False) == ["x"]
