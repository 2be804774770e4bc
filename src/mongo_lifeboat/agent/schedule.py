"""The plan's cron schedules, for APScheduler, and what a restart missed.

APScheduler runs the jobs; the times come from croniter, which also reads the schedules for
``lifeboat check`` — so the agent runs exactly what the check promises. A sixth field gives
seconds (``* * * * * */20``: every 20 s), for tests and demos.

APScheduler keeps no memory across restarts, and should not: the repository is the record of
what ran. A backup is due at start when the schedule fired since the newest complete one began
(a run missed while the agent was down, or killed half-way) — once, however many were missed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from croniter import croniter


class CronTrigger(BaseTrigger):
    """Fire times of a cron expression, in UTC (as every time in Lifeboat)."""

    def __init__(self, expr: str) -> None:
        self.expr = expr

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = previous_fire_time if previous_fire_time and previous_fire_time > now else now
        return croniter(self.expr, start).get_next(datetime)

    def __str__(self) -> str:
        return f"cron[{self.expr}]"

    def __getstate__(self) -> dict[str, Any]:
        return {"expr": self.expr}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.expr = state["expr"]


def previous_fire(expr: str, now: datetime) -> datetime:
    return croniter(expr, now).get_prev(datetime)


def next_fire(expr: str, now: datetime) -> datetime:
    return croniter(expr, now).get_next(datetime)


def due_at_start(expr: str, last_run: datetime | None, now: datetime) -> bool:
    """Whether a run was missed: the schedule fired after the last run began (or never ran)."""
    return last_run is None or previous_fire(expr, now) > last_run
