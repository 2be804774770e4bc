"""Durations (``90s``, ``1h30m``) and cron schedules as the plan and the options write them."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> float:
    """``90s``, ``5m``, ``6h``, ``14d``, ``1h30m`` -> seconds. A bare number is refused:
    whether it meant seconds or minutes is exactly the mistake a plan must not hide."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"write a unit: {value}s, {value}m, {value}h or {value}d")
    text = str(value).strip().replace(" ", "")
    if not text or _DURATION.sub("", text):
        raise ValueError(f"not a duration: {value!r} (write 90s, 5m, 6h, 14d or 1h30m)")
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))


def parse_duration_or_never(value: Any) -> float | None:
    """A duration, or ``"never"`` (None): a setting that can be turned off."""
    if value is None or str(value).strip().lower() == "never":
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise ValueError(f'{e}, or "never" to turn it off') from e


def format_duration_or_never(seconds: float | None) -> str:
    return "never" if seconds is None else format_duration(seconds)


def format_duration(seconds: float) -> str:
    """Short and readable: ``250ms``, ``4.2s``, ``7h30m``, ``14d`` (whole seconds from a minute up)."""
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1:
        return f"{round(seconds * 1000)}ms"
    if abs(seconds) < 60:
        return f"{round(seconds, 1):g}s"
    sign, rest = ("-" if seconds < 0 else ""), round(abs(seconds))
    parts = []
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, int(_UNITS[unit]))
        if n:
            parts.append(f"{n}{unit}")
    return sign + "".join(parts)


def check_cron(expr: str) -> str:
    from croniter import croniter  # loaded only by a plan with schedules

    if not croniter.is_valid(expr) or len(expr.split()) not in (5, 6):
        raise ValueError(
            f"not a cron expression: {expr!r} (five fields: minute hour day month weekday; "
            "a sixth gives seconds)"
        )
    return expr


def cron_interval(expr: str, start: datetime | None = None, fires: int = 64) -> float:
    """The longest gap (seconds) between consecutive runs of ``expr`` over its next ``fires``
    runs: what a schedule promises at worst."""
    from croniter import croniter

    it = croniter(expr, start or datetime.now(UTC))
    times = [it.get_next(datetime) for _ in range(fires)]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(times))
