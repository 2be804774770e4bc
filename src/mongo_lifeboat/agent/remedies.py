"""The audit's remedies worded for the agent's alerts and dashboard: there is no command line
there, so each says what the agent does about it or where on the page to look."""

from __future__ import annotations

from dataclasses import replace

from ..events import Event
from ..remedies import PLAIN, Remedy

WORDS = {
    "backup": "let the agent's next scheduled base backup run (the schedule table shows why the last one failed)",
    "stream": "the agent restarts the archiver itself; the archiver panel shows why it stopped",
    "drill": "the agent runs a drill on the plan's drill schedule (set one if there is none)",
    "drill-show": "see the failed drill in the drills panel",
    "notify-test": "send a test notification from the host the agent runs on",
    "copy": "copy the backups and the archive of repository {source} into {target}",
    "repair": "repair repository {repo} from repository {source}",
    "verify-sample": "the agent reads repository {repo} back on the plan's sampling schedule",
    "check-again": "the agent checks again every check interval",
    "plan-show": "the plan as shown by Lifeboat",
    "undo-incident": (
        "undo {incident} from a shell on a host with the plan, or "
        "restore to just before {incident} into a spare server"
    ),
}


def agent_words(remedy: Remedy) -> str:
    """The agent's words for the audit's remedies; an error's remedy (the agent meets those only in
    a failed cycle's message) in plain words, which name no flag either."""
    return WORDS.get(remedy.action, PLAIN[remedy.action]).format(**remedy.args)


def remedy_of(details: dict[str, object]) -> Remedy | None:
    """The remedy an event carries as data (``{"action", "args"}``), if any."""
    remedy = details.get("remedy")
    if not isinstance(remedy, dict) or remedy.get("action") not in PLAIN:
        return None
    return Remedy(str(remedy["action"]), dict(remedy.get("args") or {}))


def with_remedy(event: Event) -> Event:
    """An event (a child's failure, a detection), its remedy in the agent's words after its summary."""
    remedy = remedy_of(event.details)
    return replace(event, summary=f"{event.summary}; {agent_words(remedy)}") if remedy else event
