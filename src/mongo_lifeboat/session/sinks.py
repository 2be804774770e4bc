"""The sinks every signalling command gets: the console, the plan's notifier, the metrics file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..catalog.history import single_deployment
from ..errors import LifeboatError
from ..events import Event, Sinks, Status, Update
from ..notify import Notifier
from ..repo.repository import Repository
from . import Session


def sinks_for(ctx: Session, repository: Repository | None, deployment: str | None) -> Sinks:
    out = ctx.output

    def console(event: Event) -> None:
        # Under --json only the result goes to stdout; this line is on stderr, like notes.
        # A failure that ends the run is said once, by the error line that follows it.
        if event.status != "success" and "exit_code" not in event.details:
            out.note(f"{event.event} {event.status}: {event.summary}")

    sinks = Sinks([console])
    if repository is not None:
        # Several repositories: one that goes down, serves a bad object, or comes back is an
        # event of its own (a warning, or the "resolved" success), not just a console line.
        def repository_notice(notice: Update) -> None:
            status: Status = "success" if notice.name == "revived" else "warning"
            if status == "success":
                out.note(notice.message)
            sinks.emit(
                event(
                    ctx,
                    "repository",
                    status,
                    deployment,
                    notice.facts["url"],
                    notice.message,
                    repository=notice.facts["member"],
                    notice=notice.name,
                )
            )

        repository.listen(repository_notice, only=True)
    alerts = ctx.plan.alerts
    storage = repository.storage if repository is not None else None
    if ctx.events is not None:
        sinks.add(ctx.events.outcome)
    # A run whose events a supervisor reads (the agent's jobs) is reported by the supervisor,
    # grouped (agent.alerts): notifying here as well would say everything twice.
    if alerts.notify and ctx.events is None:

        def where() -> str | None:  # looked up when an event comes: a backup learns it from the server
            if deployment or repository is None:
                return deployment
            return single_deployment(repository)

        sinks.add(Notifier(alerts.notify, storage, where))
    textfile = alerts.prometheus_textfile
    if textfile is not None and repository is not None:

        def metrics(event: Event) -> None:
            from ..metrics import write_textfile  # prometheus_client, only where a textfile is written

            write_textfile(textfile, repository, deployment, event.to_json())

        sinks.add(metrics)
    return sinks


def event(
    ctx: Session,
    kind: str,
    status: Status,
    deployment: str | None,
    repo_url: str,
    summary: str,
    **details: Any,
) -> Event:
    return Event(kind, status, ctx.plan.deployment.name or deployment or "?", repo_url, summary, details)


@contextlib.contextmanager
def failure_signalled(
    ctx: Session, sinks: Sinks, kind: str, deployment: str | None, repo_url: str
) -> Iterator[None]:
    """A run that ends in an error still ends in a signal: the failure, then the error."""
    try:
        yield
    except LifeboatError as e:
        summary = f"{kind} failed (exit {e.exit_code}): {e.message}"
        sinks.emit(event(ctx, kind, "failure", deployment, repo_url, summary, **e.details()))
        raise
