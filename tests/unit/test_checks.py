"""Every check of ``lifeboat check``, made to fail and made to pass, over hand-made facts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import Timestamp

from mongo_lifeboat.agent.remedies import agent_words
from mongo_lifeboat.audit import checks
from mongo_lifeboat.audit.facts import Facts, RepositoryFact
from mongo_lifeboat.catalog.history import History
from mongo_lifeboat.catalog.timeline import Timeline, Window
from mongo_lifeboat.cli.remedies import command_line
from mongo_lifeboat.config import Plan
from mongo_lifeboat.drill.report import DrillReport
from mongo_lifeboat.mongo.members import Member
from mongo_lifeboat.oplog.capture.window import HistoryWindow

from ..support.manifests import make_manifest

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
T0 = int(NOW.timestamp())

GOOD_PLAN = {
    "owner": {"name": "SRE", "contact": "sre@example.com"},
    "objectives": {"rpo": "5m", "rto": "30m"},
    "repository": [
        {"name": "a", "url": "file:///a", "region": "eu-west-1"},
        {"name": "b", "url": "file:///b", "region": "us-east-1"},
    ],
    "schedule": {"base_backup": "0 */6 * * *"},
    "alerts": {"notify": ["json://hooks.example.com/x"]},
}


def _drill(verdict: str = "pass", age: timedelta = timedelta(days=1), recovery: float = 60.0) -> DrillReport:
    end = (NOW - age).isoformat()
    return DrillReport(
        id="20261125T120000.000Z",
        deployment="rs0",
        verdict=verdict,  # type: ignore[arg-type]
        started_at=end,
        finished_at=end,
        target_ts=f"{T0}:1",
        target_wall="w",
        base_backup="20261126T100000Z",
        staging="scratch",
        phases={"load": recovery},
        recovery_s=recovery,
    )


def good_facts(**plan_changes: Any) -> Facts:
    plan = Plan.model_validate({**GOOD_PLAN, **plan_changes})
    base = make_manifest("20261126T100000Z", f"{T0 - 7200}:1")
    base = base.model_copy(update={"finished_at": (NOW - timedelta(hours=2)).isoformat()})
    state = {"position": f"{T0 - 5}:1", "lag_s": 1.0, "age_s": 4.0, "running": True}
    timeline = Timeline(
        [Window(Timestamp(T0 - 7200, 1), Timestamp(T0 - 5, 2), [base.backup_id])], [], None, state
    )
    return Facts(
        plan=plan,
        now=NOW,
        repositories=[
            RepositoryFact(
                r.name,
                r.url,
                r.region,
                backups={base.backup_id},
                sampled={"at": (NOW - timedelta(hours=20)).isoformat(), "checked": 10, "objects": 70},
            )
            for r in plan.repository
        ],
        history=History("rs0", [base], [], timeline),
        member=Member("db2:27017", "SECONDARY"),
        members=[Member("db1:27017", "PRIMARY"), Member("db2:27017", "SECONDARY")],
        oplog=HistoryWindow(window_s=48 * 3600.0, entries=1_000_000, size_bytes=10 << 30, max_bytes=10 << 30),
        backup_interval_s=6 * 3600.0,
        drills=[_drill()],
        delivery={"ok": True, "time": NOW.isoformat(), "event": "backup"},
    )


def _status(check: Any, facts: Facts) -> str:
    result = check(facts)
    assert result.finding and "\n" not in result.finding
    return str(result.status)


def test_a_complete_plan_passes_every_check_but_encryption() -> None:
    facts = good_facts()
    facts.plan._from_env = {"alerts.notify[0]"}  # as load_plan records a ${VAR}
    results = checks.run_checks(facts)
    assert {r.id: r.status for r in results if r.status != "ok"} == {"encryption": "warning"}
    assert checks.overall(results) == "warning"
    assert [r.id for r in results] == [
        "owner", "objectives", "repositories", "repository", "cross-region", "backup-member", "oplog-window", "archiver",
        "last-backup", "restorable", "drill-age", "drill-rto", "alerts", "encryption", "snapshot-method", "secrets", "detection",
    ]  # fmt: skip


def _broken(facts: Facts, what: str) -> Facts:
    h = facts.history
    assert h is not None
    if what == "owner":
        return _replace_plan(facts, owner=None)
    if what == "objectives":
        return _replace_plan(facts, objectives={"rpo": "5m"})
    if what == "repositories":
        facts.repositories[1].error = "permission denied"
    elif what == "repository":
        facts.repositories[0].damaged = {"rs0/oplog/x.bson.zst": "checksum mismatch"}
    elif what == "cross-region":
        facts.repositories = facts.repositories[:1]
    elif what == "backup-member":
        facts.member = Member("db1:27017", "PRIMARY")
    elif what == "oplog-window":
        facts.oplog = HistoryWindow(window_s=3600.0, entries=1000, size_bytes=1 << 20, max_bytes=1 << 20)
    elif what == "archiver":
        assert h.timeline.state is not None
        h.timeline.state = {**h.timeline.state, "running": False}
    elif what == "last-backup":
        h.manifests = [
            h.manifests[0].model_copy(update={"finished_at": (NOW - timedelta(days=2)).isoformat()})
        ]
    elif what == "restorable":
        h.timeline.gaps = [(Timestamp(T0 - 600, 1), Timestamp(T0 - 500, 1))]
    elif what == "drill-age":
        facts.drills = []
    elif what == "drill-rto":
        facts.drills = [_drill(recovery=3600.0)]
    elif what == "alerts":
        facts.delivery = {"ok": False, "time": NOW.isoformat(), "event": "backup"}
    return facts


def _replace_plan(facts: Facts, **changes: Any) -> Facts:
    facts.plan = Plan.model_validate({**GOOD_PLAN, **changes})
    return facts


@pytest.mark.parametrize(
    ("check_id", "broken_status"),
    [
        ("owner", "critical"),
        ("objectives", "warning"),
        ("repositories", "critical"),
        ("repository", "critical"),
        ("cross-region", "critical"),
        ("backup-member", "warning"),
        ("oplog-window", "critical"),
        ("archiver", "critical"),
        ("last-backup", "critical"),
        ("restorable", "critical"),
        ("drill-age", "critical"),
        ("drill-rto", "critical"),
        ("alerts", "critical"),
    ],
)
def test_each_check_passes_then_fails(check_id: str, broken_status: str) -> None:
    check = next(c for c in checks.CHECKS if c(good_facts()).id == check_id)
    assert _status(check, good_facts()) == "ok"
    assert _status(check, _broken(good_facts(), check_id)) == broken_status


def test_cross_region_counts_the_regions_that_hold_the_newest_backup() -> None:
    facts = good_facts()
    facts.repositories[1].backups = set()  # named in the plan, but the copy never arrived
    result = checks.check_cross_region(facts)
    assert result.status == "critical" and "held by 1 of 2" in result.finding


def test_encryption_is_ok_only_when_every_repository_is_encrypted() -> None:
    facts = good_facts()
    assert _status(checks.check_encryption, facts) == "warning"  # encryption unknown / off
    for r in facts.repositories:
        r.encrypted = True
    assert _status(checks.check_encryption, facts) == "ok"
    facts.repositories[1].encrypted = False
    result = checks.check_encryption(facts)
    assert result.status == "warning" and result.value == ["b"]


def test_oplog_window_gives_both_numbers_and_the_size_needed() -> None:
    result = checks.check_oplog_window(_broken(good_facts(), "oplog-window"))
    assert "1h" in result.finding and "6h" in result.finding
    # 6 h interval + 1.5 h margin over a 1 h window: 7.5x the entries and the bytes.
    assert result.value["entries_needed"] == 7500 and "8 MB" in result.finding


def test_archiver_over_the_rpo_is_critical_with_the_lag() -> None:
    facts = good_facts()
    assert facts.history is not None and facts.history.timeline.state is not None
    facts.history.timeline.state["lag_s"] = 900.0
    result = checks.check_archiver(facts)
    assert result.status == "critical" and "15m" in result.finding


def test_a_stale_or_failed_last_drill_is_a_warning() -> None:
    facts = good_facts()
    facts.drills = [_drill(age=timedelta(days=120))]
    assert checks.check_drill_age(facts).status == "warning"
    facts.drills = [_drill(), _drill(verdict="fail")]
    assert checks.check_drill_age(facts).status == "warning"


def test_projected_recovery_counts_for_the_rto() -> None:
    facts = good_facts()
    facts.drills = [_drill(recovery=60.0).model_copy(update={"projected_recovery_s": 4000.0})]
    result = checks.check_drill_rto(facts)
    assert result.status == "critical" and "projected" in result.finding


def test_an_oplog_still_filling_is_judged_by_its_window_when_full() -> None:
    facts = good_facts()
    facts.oplog = HistoryWindow(window_s=600.0, entries=1000, max_entries=100_000)
    result = checks.check_oplog_window(facts)
    assert result.status == "ok" and "1% full" in result.finding  # about 1000 min when full
    facts.oplog = HistoryWindow(window_s=5.0, entries=100, max_entries=100_000)
    assert checks.check_oplog_window(facts).status == "warning"  # too young to judge
    facts.oplog = HistoryWindow(window_s=600.0, entries=90_000, max_entries=100_000)
    assert checks.check_oplog_window(facts).status == "critical"  # 11 min when full


def test_a_repository_whose_archive_fell_behind_is_a_warning_naming_the_fix() -> None:
    facts = good_facts()
    facts.repositories[0].archived_to = Timestamp(T0 - 5, 1)
    facts.repositories[1].archived_to = Timestamp(T0 - 4, 1)  # a second apart: fine
    assert _status(checks.check_repositories, facts) == "ok"
    facts.repositories[1].archived_to = Timestamp(T0 - 3605, 1)  # an hour behind; the RPO is 5m
    result = checks.check_repositories(facts)
    assert result.status == "warning"
    assert result.finding == "repository b's oplog archive ends 1h before a's: it missed segments"
    assert "lifeboat copy --from a --to b" in result.worded_hint(command_line)
    assert "lifeboat" not in result.worded_hint(agent_words) and "--" not in result.worded_hint(agent_words)


def test_a_snapshot_method_the_source_cannot_do_is_a_warning_naming_the_fix() -> None:
    facts = good_facts()
    assert checks.check_snapshot_method(facts).finding == "the plan takes no volume snapshots"
    with_snapshots = _replace_plan(
        facts, snapshot={"provider": "command", "command": {"snapshot": "snap.sh"}}
    )
    assert checks.check_snapshot_method(with_snapshots).status == "ok"
    with_snapshots.write_lock_problem = "the server lists no fsync/fsyncUnlock command"
    result = checks.check_snapshot_method(with_snapshots)
    assert result.status == "warning"
    assert "fsync" in result.finding and 'consistency = "journal"' in result.hint


def test_credentials_written_in_the_plan_itself_are_a_warning_naming_each_key() -> None:
    facts = _replace_plan(
        good_facts(),
        owner={
            "name": "SRE",
            "contact": "sre@example.com",
            "escalation": "https://pager.example.com/hooks/EscPathTok321",
        },
        snapshot={
            "provider": "command",
            "pre": "curl -H 'Authorization: Bearer SnapPreTok111' https://x.example/f",
        },
        deployment={"source": "mongodb://backup:pw1234@db1:27017/"},
    )
    facts.plan._from_env = {"alerts.notify[0]"}
    result = checks.check_secrets(facts)
    assert result.status == "warning"
    assert result.value == {"keys": ["deployment.source", "owner.escalation", "snapshot.pre"]}
    shown = json.dumps(facts.plan.shown())
    assert "EscPathTok321" not in shown and "SnapPreTok111" not in shown and "pw1234" not in shown


def test_damage_names_the_object_and_the_repository_to_repair_from() -> None:
    facts = _broken(good_facts(), "repository")
    result = checks.check_repository(facts)
    assert result.status == "critical"
    assert "rs0/oplog/x.bson.zst: checksum mismatch" in result.finding
    other = facts.repositories[1].name
    assert (
        result.worded_hint(command_line)
        == f"lifeboat repair --from {other} --repo {facts.repositories[0].name}"
    )
    assert (
        result.worded_hint(agent_words)
        == f"repair repository {facts.repositories[0].name} from repository {other}"
    )


def test_a_read_back_that_stopped_running_or_is_off_is_a_warning() -> None:
    facts = good_facts()
    facts.repositories[1].sampled = {"at": (NOW - timedelta(days=3)).isoformat()}
    result = checks.check_repository(facts)
    assert result.status == "warning" and facts.repositories[1].name in result.finding
    assert "3d ago" in result.finding or "72h" in result.finding, result.finding
    facts.repositories[1].sampled = None  # never, in a repository with a backup a day old: not yet due
    assert checks.check_repository(facts).status == "ok"
    off = _replace_plan(good_facts(), sampling={"schedule": None})
    assert checks.check_repository(off).status == "warning"


def test_detection_says_whether_incidents_are_noticed_as_they_happen() -> None:
    assert checks.check_detection(good_facts()).status == "ok"
    off = checks.check_detection(_replace_plan(good_facts(), detect={"enabled": False}))
    assert off.status == "warning" and "live detection is off" in off.finding
    stopped = good_facts()
    assert stopped.history is not None and stopped.history.timeline.state is not None
    stopped.history.timeline.state = {**stopped.history.timeline.state, "running": False}
    result = checks.check_detection(stopped)
    assert result.status == "warning" and "no archiver is running" in result.finding
