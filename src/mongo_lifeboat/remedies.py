"""What to do about a problem, as a fact a service can state without naming a command or a flag.

A service (or the audit) says *what* is to be done — ``Remedy("init")``, ``Remedy("repair",
{"repo": …, "source": …})`` — and each front end words it in its own terms: the command line
as the command to run (``cli.remedies``), the agent as what it does or shows
(``agent.remedies``). ``PLAIN`` is the wording for a caller that has none of its own (a log
line, ``str()`` of an error), and the list of every action there is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .secrets import redact


@dataclass(frozen=True)
class Remedy:
    """An action (one of ``PLAIN``'s keys) and what it applies to."""

    action: str
    args: dict[str, str] = field(default_factory=dict)


Wording = Callable[[Remedy], str]

PLAIN = {
    # the audit's remedies
    "backup": "take a base backup",
    "stream": "run the archiver",
    "drill": "run a restore drill",
    "drill-show": "read the last drill's report",
    "notify-test": "send a test notification",
    "copy": "copy the backups and the archive of {source} to {target}",
    "repair": "repair {repo} from {source}",
    "verify-sample": "read a sample of repository {repo} back",
    "check-again": "check again",
    "plan-show": "show the plan as loaded",
    # the errors' remedies
    "init": "create the repository first",
    "list-backups": "list the complete backups",
    "verify-all": "verify the whole repository",
    "drop": "replace those namespaces (drop them first)",
    "timeline": "see the restorable windows in the timeline",
    "incidents": "list the incidents",
    "mount-list": "list the running mounts",
    "list-drills": "list the drills",
    "list-snapshots": "list the snapshots",
    "snapshot": "take a volume snapshot",
    "scratch-staging": "drill into a scratch server",
    "name-deployment": "name the deployment ([deployment] name in the plan)",
    "own-name": "give this one its own name in the repository ([deployment] key in its plan)",
    "repair-from-copy": "repair it from a good copy in another repository",
    "delete-damaged": "a forced delete of {backup} removes it",
    "restore-latest": "restore to the latest point",
    "undo-incident": "undo {incident} (or restore to just before it)",
    "other-output": "choose another output path",
    "name-db": "name the database the files belong to",
    "name-db-collection": "name the database (and the collection if it is not the file's name)",
    "member": "read from the {member} member",
    "verify-backup": "verify this backup",
    "without-users": "restore without users and roles",
    "force": "force it",
    "restore-on-snapshot": (
        "restore the volumes of {snapshot}, start a member on them, then restore it to {to} with that "
        "snapshot as its base"
    ),
}


def plain(remedy: Remedy) -> str:
    return PLAIN[remedy.action].format(**remedy.args)


def worded(hint: str, remedy: Remedy | None, word: Wording = plain) -> str:
    """``hint`` with its remedy worded by ``word``: ``{do}`` in the hint stands for the remedy;
    a hint without one is the remedy alone. Redacted: a remedy's arguments may hold a URL."""
    if remedy is None:
        return hint
    done = word(remedy)
    return redact(hint.replace("{do}", done) if "{do}" in hint else done)
