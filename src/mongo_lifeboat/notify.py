"""Notifications through Apprise (Slack, Teams, PagerDuty, Opsgenie, email, JSON web hooks …).

Each destination is tried a few times with backoff; the outcome of every delivery is
recorded in the repository (the ``alerts`` check reads it). A notification that cannot
be delivered is recorded and logged, never raised: the backup it reports on stands.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .events import Event
from .repo import layout
from .repo.records import get_record, put_record
from .repo.storage import Storage
from .secrets import redact_notify_url, register

log = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_BACKOFF_S = 0.5


def _body(event: Event) -> str:
    return f"{event.summary}\n\n{json.dumps(event.to_json(), indent=2, sort_keys=True)}"


class Notifier:
    """A sink: send each event to every URL; record the outcome under ``storage``."""

    def __init__(
        self,
        urls: list[str],
        storage: Storage | None = None,
        deployment: str | Callable[[], str | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``deployment``: where deliveries are recorded, or how to find it when the event
        comes (a backup learns its deployment from the server)."""
        self.urls = list(urls)
        for url in self.urls:
            register(url)  # a token may sit anywhere in the URL: never print it whole
        self.storage, self.deployment, self.sleep = storage, deployment, sleep

    def __call__(self, event: Event) -> None:
        self.send(event)

    def send(self, event: Event) -> dict[str, Any]:
        outcomes = [self._deliver(url, event) for url in self.urls]
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "event": event.event,
            "status": event.status,
            "ok": all(o["ok"] for o in outcomes),
            "destinations": outcomes,
        }
        deployment = self.deployment() if callable(self.deployment) else self.deployment
        if self.storage is not None and deployment:
            put_record(self.storage, layout.alert_delivery_key(deployment), record)
        return record

    def _deliver(self, url: str, event: Event) -> dict[str, Any]:
        import apprise  # here, not at the top: only a run that notifies pays for loading it

        shown = redact_notify_url(url)
        sender = apprise.Apprise()
        if not sender.add(url):
            log.warning("notification URL not understood: %s", shown)
            return {
                "destination": shown,
                "ok": False,
                "attempts": 0,
                "error": "URL not understood by Apprise",
            }
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            if sender.notify(
                body=_body(event),
                title=event.title,
                notify_type={
                    "success": apprise.NotifyType.SUCCESS,
                    "warning": apprise.NotifyType.WARNING,
                }.get(event.status, apprise.NotifyType.FAILURE),
            ):
                return {"destination": shown, "ok": True, "attempts": attempt, "error": None}
            if attempt < ATTEMPTS:
                self.sleep(backoff)
                backoff *= 2
        log.warning(
            "could not deliver the %s notification to %s after %d attempts", event.event, shown, ATTEMPTS
        )
        return {"destination": shown, "ok": False, "attempts": ATTEMPTS, "error": "delivery failed"}


def last_delivery(storage: Storage, deployment: str) -> dict[str, Any] | None:
    """The last delivery's outcome (destinations were recorded redacted)."""
    return get_record(storage, layout.alert_delivery_key(deployment))
