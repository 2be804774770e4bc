"""Remedies (the audit's and the errors') worded for the command line: the command to run, with
its flags. Every action in ``remedies.PLAIN`` has its words here (a unit test holds that)."""

from __future__ import annotations

from ..remedies import Remedy

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
    "init": "create one with: lifeboat init --repo URL",
    "list-backups": "list the complete backups with: lifeboat list",
    "verify-all": "run `lifeboat verify --all`",
    "drop": "pass --drop to replace those namespaces",
    "timeline": "see the restorable windows with: lifeboat timeline",
    "incidents": "list them with: lifeboat incidents",
    "mount-list": "list them with: lifeboat mount list",
    "list-drills": "list the drills with: lifeboat drill list",
    "list-snapshots": "list them with: lifeboat snapshot list",
    "snapshot": "take one with: lifeboat snapshot",
    "scratch-staging": "drill into a scratch server (--staging scratch)",
    "name-deployment": "pass --deployment NAME, or set [deployment] name in the plan",
    "own-name": "give it its own name in the repository: --deployment NAME (or [deployment] key = NAME in its plan)",
    "repair-from-copy": "copy a good copy from another repository with: lifeboat repair",
    "delete-damaged": "lifeboat delete {backup} --force removes it",
    "restore-latest": "restore with --to latest",
    "undo-incident": "lifeboat undo {incident} --dry-run, then lifeboat undo {incident} (or: lifeboat restore --to {incident} --target URI)",
    "other-output": "choose another --out",
    "name-db": "pass --db NAME",
    "name-db-collection": "pass --db NAME (and --collection NAME if it is not the file's name)",
    "member": "use --member {member}",
    "verify-backup": "run `lifeboat verify` on this backup",
    "without-users": "restore without --with-users",
    "force": "pass --force",
    "restore-on-snapshot": (
        "restore its volumes (lifeboat snapshot list shows them), start a member on them, then: lifeboat "
        "restore --to {to} --base {snapshot} --target URI (without --target, the provider's restore "
        "command does the first steps)"
    ),
}


def command_line(remedy: Remedy) -> str:
    return COMMANDS[remedy.action].format(**remedy.args)
