"""The agent's parts that need no server: grouping of alerts, schedules and missed runs,
the dashboard's authentication, and the timeline drawing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from mongo_lifeboat.agent import timeline_svg
from mongo_lifeboat.agent.alerts import Alerts
from mongo_lifeboat.agent.remedies import agent_words, with_remedy
from mongo_lifeboat.agent.schedule import CronTrigger, due_at_start
from mongo_lifeboat.agent.web import _authorized
from mongo_lifeboat.errors import DeploymentMismatch, LifeboatError
from mongo_lifeboat.events import Event, Sinks, outcome_of
from mongo_lifeboat.remedies import Remedy

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _alerts() -> tuple[Alerts, list[Event], list[float]]:
    sent: list[Event] = []
    clock = [1000.0]
    return Alerts(Sinks([sent.append]), repeat_s=3600, clock=lambda: clock[0]), sent, clock


def _event(status: str, summary: str = "x") -> Event:
    return Event("drill", status, "orders", "file:///r", summary)  # type: ignore[arg-type]


def test_a_failure_is_sent_once_then_counted_then_reminded_then_resolved() -> None:
    alerts, sent, clock = _alerts()
    assert alerts.outcome("drill", _event("failure", "staging unreachable"))
    for _ in range(5):  # the same failure every run: counted, not sent
        clock[0] += 60
        assert not alerts.outcome("drill", _event("failure", "staging unreachable"))
    assert alerts.conditions()["drill"]["occurrences"] == 6
    clock[0] += 3600  # a reminder after repeat_s
    assert alerts.outcome("drill", _event("failure", "staging unreachable"))
    assert sent[-1].summary.startswith("still failure since")
    assert alerts.outcome("drill", _event("success", "drill passed"))
    assert sent[-1].summary.startswith("resolved: drill passed (was failure since")
    assert sent[-1].details["resolved"] is True
    assert alerts.conditions() == {}
    assert [e.status for e in sent] == ["failure", "failure", "success"]


def test_a_change_of_severity_is_news_and_quiet_successes_are_not() -> None:
    alerts, sent, _ = _alerts()
    assert not alerts.outcome("check:archiver", _event("success"), news_when_ok=False)
    assert alerts.outcome("check:archiver", _event("warning"))
    assert alerts.outcome("check:archiver", _event("failure"))  # worse: said again
    assert not alerts.outcome("check:archiver", _event("failure"))
    assert alerts.outcome("check:archiver", _event("success"), news_when_ok=False)  # resolved always
    assert not alerts.outcome("check:archiver", _event("success"), news_when_ok=False)
    assert alerts.outcome("backup", _event("success"))  # a run's success is news
    assert [e.status for e in sent] == ["warning", "failure", "success", "success"]


def test_a_run_missed_while_the_agent_was_down_is_due_once() -> None:
    every_6h = "0 */6 * * *"
    assert due_at_start(every_6h, None, T0)  # never ran
    assert not due_at_start(every_6h, T0 - timedelta(hours=2, minutes=59), T0 + timedelta(minutes=1))
    assert due_at_start(every_6h, T0 - timedelta(hours=7), T0)  # the 00:00 run was missed
    assert due_at_start(every_6h, T0 - timedelta(days=3), T0)  # many missed: still one decision
    every_20s = "* * * * * */20"  # a sixth field: seconds
    assert not due_at_start(every_20s, T0 + timedelta(seconds=2), T0 + timedelta(seconds=10))
    assert due_at_start(every_20s, T0 - timedelta(seconds=5), T0 + timedelta(seconds=10))


def test_the_trigger_gives_the_cron_times_in_utc() -> None:
    trigger = CronTrigger("* * * * * */20")
    first = trigger.get_next_fire_time(None, T0 + timedelta(seconds=1))
    assert first == T0 + timedelta(seconds=20)
    assert trigger.get_next_fire_time(first, first) == T0 + timedelta(seconds=40)


def test_the_dashboard_token_is_a_bearer_token_or_a_basic_auth_password() -> None:
    class Req:
        def __init__(self, header: str) -> None:
            self.headers = {"authorization": header} if header else {}

    basic = base64.b64encode(b"anyone:s3cret-token").decode()
    assert _authorized(Req("Bearer s3cret-token"), "s3cret-token")  # type: ignore[arg-type]
    assert _authorized(Req(f"Basic {basic}"), "s3cret-token")  # type: ignore[arg-type]
    assert not _authorized(Req("Bearer wrong"), "s3cret-token")  # type: ignore[arg-type]
    assert not _authorized(Req(""), "s3cret-token")  # type: ignore[arg-type]
    assert not _authorized(Req("Basic !!notbase64"), "s3cret-token")  # type: ignore[arg-type]


def test_the_timeline_draws_windows_gaps_and_marks_with_tooltips() -> None:
    now = T0.timestamp()
    svg = timeline_svg.render(
        [
            timeline_svg.Span(now - 3600, now - 1800, "restorable", "window"),
            timeline_svg.Span(now - 1800, now - 1200, "GAP", "gap"),
            timeline_svg.Span(now - 1200, now, "restorable", "window"),
        ],
        [
            timeline_svg.Mark(now - 3600, "base backup <b>", "backup"),
            timeline_svg.Mark(now - 600, "drill", "drill-fail"),
        ],
        now,
    )
    assert svg.count('class="window"') == 2 and svg.count('class="gap"') == 1
    assert 'class="backup"' in svg and 'class="drill-fail"' in svg
    assert "base backup &lt;b&gt;" in svg and "<b>" not in svg  # escaped
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched


def test_a_childs_failure_carries_its_error_and_remedy_as_data_and_the_agent_words_it() -> None:
    error = DeploymentMismatch("the source is replica set rs1, the repository holds rs0 under that name")
    details = error.details()
    assert details["exit_code"] == 25 and details["error"] == "DeploymentMismatch"
    assert details["remedy"] == {"action": "own-name", "args": {}}
    # Over the events pipe (JSON lines) and back, then worded by the agent: no flag, no command.
    failure = outcome_of(
        json.loads(
            json.dumps(Event("backup", "failure", "rs0", "file:///r", "backup failed", details).to_json())
        )
    )
    assert failure is not None
    worded = with_remedy(failure)
    assert worded.summary == f"backup failed; {agent_words(Remedy('own-name'))}"
    assert "--" not in worded.summary and "lifeboat " not in worded.summary
    # A failure without a remedy is left as it was.
    plain = Event("backup", "failure", "rs0", "file:///r", "backup failed", LifeboatError("x").details())
    assert with_remedy(plain) == plain
