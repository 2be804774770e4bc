"""The audit's remedies worded for the command line: the command to run, with its flags."""

from __future__ import annotations

from ..audit.result import Remedy

COMMANDS = {
    "backup": "run lifeboat backup",
    "stream": "run lifeboat stream (under systemd)",
    "drill": "run lifeboat drill",
    "drill-show": "see lifeboat drill show",
    "notify-test": "run lifeboat notify test",
    "copy": "lifeboat copy --from {source} --to {target}",
    "repair": "lifeboat repair --from {source} --repo {repo}",
    "verify-sample": "lifeboat verify --sample --repo {repo}",
    "check-again": "run lifeboat check again",
    "plan-show": "lifeboat plan show",
}


def command_line(remedy: Remedy) -> str:
    return COMMANDS[remedy.action].format(**remedy.args)
