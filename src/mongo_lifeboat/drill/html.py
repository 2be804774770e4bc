"""A drill report as one standalone HTML page a manager can read: the verdict, the RTO margin,
the phases as a bar chart and the trend of past drills (inline SVG; no network resources)."""

from __future__ import annotations

from ..templates import render_page
from .report import DrillReport


def render(report: DrillReport, past: list[DrillReport]) -> str:
    trend = [d for d in past if d.id <= report.id][-30:] or [report]
    phases = list(report.phases.items())
    slowest = max([d.recovery_s for d in trend] + [report.rto or 0.0, 0.001])
    rto_y = None if report.rto is None else round(140 - report.rto / slowest * 120, 1)
    return render_page(
        "drill_report.html",
        r=report,
        phases=phases,
        longest=max([s for _, s in phases] + [0.001]),
        trend=trend,
        step=max(8, 700 // max(len(trend), 1)),
        slowest=slowest,
        rto_y=rto_y,
    )
