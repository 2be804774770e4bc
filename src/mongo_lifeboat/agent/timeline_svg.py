"""The recoverability timeline as inline SVG: restorable windows, gaps, base backups,
incidents and drills on one time axis. Drawn on the server, so the page needs no script and
no external resource; every mark has a ``<title>`` (the browser's tooltip)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH, LEFT, RIGHT = 1000, 90, 20
ROWS = {"windows": 30, "backups": 62, "incidents": 94, "drills": 126}
HEIGHT = 160


@dataclass(frozen=True)
class Mark:
    at: float  # seconds since the epoch
    label: str
    kind: str  # backup | incident | drill-pass | drill-fail


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    label: str
    kind: str  # window | gap


def _wall(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render(spans: list[Span], marks: list[Mark], now: float) -> str:
    times = [s.start for s in spans] + [s.end for s in spans] + [m.at for m in marks] + [now]
    t1 = max(times)
    t0 = min(min(times), t1 - 60.0)  # at least a minute shown, ending now
    pad = (t1 - t0) * 0.02
    t0, t1 = t0 - pad, t1 + pad

    def x(t: float) -> float:
        return round(LEFT + (t - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT), 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="timeline" aria-label="recoverability timeline">'
    ]
    for name, y in ROWS.items():
        out.append(f'<text x="4" y="{y + 4}" class="axis-label">{name}</text>')
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" class="row-line"/>')
    y = ROWS["windows"]
    for s in spans:
        width = max(x(s.end) - x(s.start), 2.0)
        tip = f"{s.label}: {_wall(s.start)} .. {_wall(s.end)} UTC"
        out.append(
            f'<rect class="{s.kind}" x="{x(s.start)}" y="{y - 9}" width="{width}" height="18">'
            f"<title>{escape(tip)}</title></rect>"
        )
    for m in marks:
        row = {"backup": "backups", "incident": "incidents"}.get(m.kind, "drills")
        cx, cy = x(m.at), ROWS[row]
        tip = escape(f"{m.label} at {_wall(m.at)} UTC")
        if m.kind == "backup":
            shape = f'<path d="M{cx} {cy - 7} L{cx + 6} {cy} L{cx} {cy + 7} L{cx - 6} {cy} Z"'
        elif m.kind == "incident":
            shape = f'<path d="M{cx} {cy - 8} L{cx + 7} {cy + 6} L{cx - 7} {cy + 6} Z"'
        else:
            shape = f'<circle cx="{cx}" cy="{cy}" r="6"'
        out.append(
            f'{shape} class="{m.kind}"><title>{tip}</title>{"</path>" if "path" in shape else "</circle>"}'
        )
    out.append(
        f'<line x1="{x(now)}" x2="{x(now)}" y1="12" y2="{HEIGHT - 20}" class="now"><title>now</title></line>'
    )
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        t = t0 + (t1 - t0) * frac
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        out.append(f'<text x="{x(t)}" y="{HEIGHT - 4}" text-anchor="{anchor}" class="tick">{_wall(t)}</text>')
    out.append("</svg>")
    return "".join(out)


def trend(values: list[float], limit: float | None, width: int = 460, height: int = 70) -> str:
    """Recovery time of each drill, oldest to newest, against the RTO (a dashed line)."""
    if not values:
        return ""
    top = max([*values, limit or 0.0]) * 1.15 or 1.0

    def y(v: float) -> float:
        return round(height - 8 - v / top * (height - 16), 1)

    step = (width - 20) / max(len(values) - 1, 1)
    points = " ".join(f"{round(10 + i * step, 1)},{y(v)}" for i, v in enumerate(values))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="trend" role="img" aria-label="recovery time trend">'
    ]
    if limit is not None:
        out.append(
            f'<line x1="10" x2="{width - 10}" y1="{y(limit)}" y2="{y(limit)}" stroke="#cf222e" stroke-dasharray="4 3">'
            f"<title>RTO {limit:g}s</title></line>"
        )
    out.append(f'<polyline points="{points}" fill="none" stroke="#0969da" stroke-width="2"/>')
    for i, v in enumerate(values):
        out.append(
            f'<circle cx="{round(10 + i * step, 1)}" cy="{y(v)}" r="3" fill="#0969da"><title>{v:.1f}s</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)
