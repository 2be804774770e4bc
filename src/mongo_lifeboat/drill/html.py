"""A drill report as one standalone HTML page a manager can read: the verdict, the RTO margin,
the phases as a bar chart and the trend of past drills (inline SVG; no network resources)."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

from .report import DrillReport

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Lifeboat drill {{ r.id }}: {{ r.verdict }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 56rem; color: #1d2733; }
.verdict { display: inline-block; padding: .2rem .8rem; border-radius: .3rem; color: #fff; font-weight: 700; }
.pass { background: #1d7a46; } .fail { background: #b42318; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { padding: .25rem .8rem; text-align: left; }
th { color: #5a6472; font-weight: 500; } .num { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
</style></head><body>
<h1>Restore drill of {{ r.plan_name or r.deployment }}</h1>
<p><span class="verdict {{ r.verdict }}">{{ r.verdict | upper }}</span>
&nbsp; restored to {{ r.target_wall }} ({{ r.target_ts }}) from base backup {{ r.base_backup }}
into {{ r.staging }}{% if r.scope %}, namespaces {{ r.scope | join(", ") }}{% endif %}.</p>
<table>
<tr><th>Recovery time</th><td class="num">{{ "%.1f" | format(r.recovery_s) }} s</td></tr>
{% if r.projected_recovery_s is not none %}<tr><th>Projected for the whole backup</th>
<td class="num">{{ "%.1f" | format(r.projected_recovery_s) }} s</td></tr>{% endif %}
<tr><th>RTO</th><td class="num">{% if r.rto is not none %}{{ "%.0f" | format(r.rto) }} s{% else %}not set{% endif %}</td></tr>
<tr><th>Margin</th><td class="num">{% if r.margin is not none %}{{ "%.1f" | format(r.margin) }} s{% else %}-{% endif %}</td></tr>
<tr><th>Documents compared with the source</th><td class="num">{{ r.documents_compared }}</td></tr>
<tr><th>Documents left out</th><td class="num">{{ r.documents_skipped }}</td></tr>
{% for reason, n in r.skipped.items() %}<tr><th>&nbsp;&nbsp;{{ reason }}</th><td class="num">{{ n }}</td></tr>{% endfor %}
<tr><th>Objects verified</th><td class="num">{{ r.objects_verified }}</td></tr>
</table>
<h2>Phases</h2>
<svg width="720" height="{{ 30 * phases | length + 10 }}" role="img" aria-label="phase durations">
{% for name, seconds in phases %}
<text x="0" y="{{ 30 * loop.index0 + 20 }}">{{ name }}</text>
<rect x="120" y="{{ 30 * loop.index0 + 6 }}" height="20" width="{{ (seconds / longest * 500) | round(1) }}"
 fill="{{ '#8a94a3' if name == 'proof' else '#2f6fb3' }}"></rect>
<text x="{{ 126 + (seconds / longest * 500) | round(1) }}" y="{{ 30 * loop.index0 + 20 }}">{{ "%.2f" | format(seconds) }} s</text>
{% endfor %}
</svg>
{% if r.failures %}<h2>Failures</h2><ul>
{% for f in r.failures %}<li><b>{{ f.step }}</b>{% if f.ns %} {{ f.ns }}{% endif %}{% if f._id %} _id {{ f._id }}{% endif %}{% if f.object %} {{ f.object }}{% endif %}: {{ f.problem }}</li>{% endfor %}
</ul>{% endif %}
<h2>Trend</h2>
<svg width="720" height="160" role="img" aria-label="recovery time of past drills">
{% for d in trend %}
<rect x="{{ 10 + loop.index0 * step }}" y="{{ 140 - (d.recovery_s / slowest * 120) | round(1) }}" width="{{ step - 4 }}"
 height="{{ (d.recovery_s / slowest * 120) | round(1) }}" fill="{{ '#1d7a46' if d.verdict == 'pass' else '#b42318' }}">
<title>{{ d.id }}: {{ d.verdict }}, {{ "%.1f" | format(d.recovery_s) }} s</title></rect>
{% endfor %}
{% if rto_y is not none %}<line x1="0" x2="720" y1="{{ rto_y }}" y2="{{ rto_y }}" stroke="#b42318" stroke-dasharray="4"></line>
<text x="4" y="{{ rto_y - 4 }}">RTO</text>{% endif %}
</svg>
<p>{{ trend | length }} drill(s), oldest first; green passed, red failed.</p>
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True))
_template = _env.from_string(_PAGE)


def render(report: DrillReport, past: list[DrillReport]) -> str:
    trend = [d for d in past if d.id <= report.id][-30:] or [report]
    phases = list(report.phases.items())
    slowest = max([d.recovery_s for d in trend] + [report.rto or 0.0, 0.001])
    rto_y = None if report.rto is None else round(140 - report.rto / slowest * 120, 1)
    return _template.render(
        r=report,
        phases=phases,
        longest=max([s for _, s in phases] + [0.001]),
        trend=trend,
        step=max(8, 700 // max(len(trend), 1)),
        slowest=slowest,
        rto_y=rto_y,
    )
