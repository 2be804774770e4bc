"""check, notify test, metrics."""

from __future__ import annotations

import threading

import click

from .. import config
from ..audit.checks import overall, run_checks
from ..audit.facts import gather_facts
from ..catalog.history import single_deployment
from ..errors import ChecksCritical, ChecksWarning, ConfigError, Interrupted, UsageError
from ..events import Event, Status
from ..metrics import registry_for
from ..notify import Notifier
from ..repo import layout
from ..repo.records import put_record
from ..session import Session
from ..session.repositories import open_repository
from ..session.sinks import event, sinks_for
from .options import app, deployment_option, json_option, parse_listen, repo_option, source_option
from .remedies import command_line

_NAGIOS = {"ok": 0, "warning": 1, "critical": 2}
_MARK = {"ok": "ok      ", "warning": "WARNING ", "critical": "CRITICAL"}


def _repositories(ctx: Session, repo: str | None) -> list[tuple[str, str, str | None]]:
    """The repositories to check: the one given (--repo / LIFEBOAT_REPO), else the plan's."""
    given = config.named_repo(repo)
    if given:
        url = config.resolve_repo_name(given, ctx.plan)
        named = next((r for r in ctx.plan.repository if r.url == url), None)
        return [(named.name if named else "given", url, named.region if named else None)]
    return [(r.name, r.url, r.region) for r in ctx.plan.repository]


@click.command()
@source_option
@repo_option
@deployment_option
@click.option("--nagios", is_flag=True, help="One Nagios/Icinga line; exit 0 ok, 1 warning, 2 critical.")
@json_option
@app
def check(ctx: Session, source: str | None, repo: str | None, deployment: str | None, nagios: bool) -> None:
    """Audit the recovery plan against reality (exit 0 ok, 20 warnings, 21 critical)."""
    out = ctx.output
    if ctx.plan_path is None:
        raise ConfigError(
            "no plan file: lifeboat check audits a recovery plan (owner, RPO/RTO, repositories, schedules, "
            "alerts) and there is none here",
            "write one with lifeboat plan init (then edit it), or point at yours: --config PATH or "
            "LIFEBOAT_CONFIG",
        )
    facts = gather_facts(
        ctx.plan,
        config.source_uri(source, ctx.plan),
        _repositories(ctx, repo),
        deployment,
        plan_file=ctx.plan_path is not None,
    )
    results = run_checks(facts)
    status = overall(results)
    data = {"status": status, "checks": [r.to_json(command_line) for r in results]}
    if facts.repo is not None and facts.deployment:
        put_record(
            facts.repo.storage,
            layout.check_result_key(facts.deployment),
            {**data, "time": facts.now.isoformat()},
        )
        bad = [r for r in results if r.status != "ok"]
        summary = f"check {status}: " + (", ".join(f"{r.id} {r.status}" for r in bad) or "every check ok")
        sinks = sinks_for(ctx, facts.repo, facts.deployment)
        level: Status = {"ok": "success", "warning": "warning", "critical": "failure"}[status]  # type: ignore[assignment]
        sinks.emit(
            event(
                ctx,
                "check",
                level,
                facts.deployment,
                facts.repo.url,
                summary,
                checks={r.id: r.status for r in results},
            )
        )
    if nagios:
        bad = [r for r in results if r.status != "ok"]
        detail = "; ".join(f"{r.id}: {r.finding}" for r in bad if r.status == status) or "all checks ok"
        click.echo(
            f"LIFEBOAT {status.upper()} - {detail} | "
            + " ".join(f"{r.id}={_NAGIOS[r.status]}" for r in results)
        )
        raise SystemExit(_NAGIOS[status])

    def render() -> None:
        for r in results:
            out.say(f"{_MARK[r.status]}  {r.id:<14} {r.finding}")
            hint = r.worded_hint(command_line)
            if hint and r.status != "ok":
                out.say(f"{'':10}{'':15}hint: {hint}")
        out.say(f"status: {status}")

    out.result(data, render)
    if status == "critical":
        raise ChecksCritical(
            f"{sum(r.status == 'critical' for r in results)} critical check(s)",
            "fix the CRITICAL lines above first",
        )
    if status == "warning":
        raise ChecksWarning(
            f"{sum(r.status == 'warning' for r in results)} warning(s)", "see the WARNING lines above"
        )


@click.group()
def notify() -> None:
    """Notifications ([alerts] notify in the plan)."""


@notify.command("test")
@repo_option
@deployment_option
@json_option
@app
def notify_test(ctx: Session, repo: str | None, deployment: str | None) -> None:
    """Send a test event to every destination of the plan; say which arrived."""
    urls = ctx.plan.alerts.notify
    if not urls:
        raise UsageError("no alert destination in the plan", 'add [alerts] notify = ["json://host/path", …]')
    repository = open_repository(ctx, repo) if (config.named_repo(repo) or ctx.plan.repository) else None
    name = deployment or (single_deployment(repository) if repository else None)
    record = Notifier(urls, repository.storage if repository else None, name).send(
        Event(
            "notify-test",
            "success",
            ctx.plan.deployment.name or name or "?",
            repository.url if repository else "",
            "a test notification from lifeboat notify test",
        )
    )

    def render() -> None:
        for d in record["destinations"]:
            error = f" ({d['error']})" if d["error"] else ""
            ctx.output.say(f"{'delivered' if d['ok'] else 'FAILED   '}  {d['destination']}{error}")

    ctx.output.result(record, render)
    if not record["ok"]:
        raise UsageError(
            "at least one destination did not receive the test",
            "check its URL and that it is reachable from here",
        )


@click.command()
@click.option(
    "--listen",
    default="127.0.0.1:9563",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to serve /metrics.",
)
@click.option("--once", is_flag=True, help="Print the metrics once (text format) and exit.")
@repo_option
@deployment_option
@app
def metrics(ctx: Session, listen: str, once: bool, repo: str | None, deployment: str | None) -> None:
    """Serve Prometheus metrics read from the repository (each scrape reads it afresh)."""
    from prometheus_client import generate_latest, start_http_server

    repository = open_repository(ctx, repo)
    registry = registry_for(repository, deployment)
    if once:
        click.echo(generate_latest(registry).decode(), nl=False)
        return
    host, port = parse_listen(listen, "127.0.0.1:9563")
    server, _thread = start_http_server(port, addr=host, registry=registry)
    ctx.output.note(f"serving metrics on http://{host}:{server.server_port}/metrics (Ctrl-C stops)")
    try:
        threading.Event().wait()  # serve until interrupted
    except (KeyboardInterrupt, Interrupted):
        server.shutdown()
