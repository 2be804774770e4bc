"""The command table: each command's module, loaded only when that command runs.

``lifeboat --help`` lists every command without importing any of them (the driver, pydantic,
the cloud SDKs, apprise are loaded by the commands that use them), so help, ``--version`` and
a typo answer at once. The one-line help written here is checked against each command's own
docstring by the tests, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click


class Entry(NamedTuple):
    module: str  # under mongo_lifeboat.cli
    attr: str
    short_help: str


COMMANDS: dict[str, Entry] = {
    "agent": Entry(
        "agent_cmd",
        "agent",
        "Carry out the plan unattended: archiver, backups, prune, drills, checks, alerts, dashboard.",
    ),
    "backup": Entry(
        "backup_cmds", "backup", "Take a consistent base backup (history captured around the dump)."
    ),
    "check": Entry(
        "check_cmds",
        "check",
        "Audit the recovery plan against reality (exit 0 ok, 20 warnings, 21 critical).",
    ),
    "cleanup": Entry(
        "repository_cmds",
        "cleanup",
        "Remove incomplete backups (killed or failed; never a running one) and what killed writes left "
        "half-written (untouched for 15 minutes).",
    ),
    "compact": Entry(
        "compact_cmd",
        "compact",
        "Merge aged archived segments into larger ones ([archiver] merge_minutes_after, merge_hours_after): "
        "fewer objects to list and read.",
    ),
    "compare": Entry(
        "verify_cmds", "compare", "Compare two deployments: counts, content hashes, indexes, options, views."
    ),
    "copy": Entry(
        "repository_cmds",
        "copy",
        "Copy backups and the archived oplog to another repository, each object verified first.",
    ),
    "delete": Entry(
        "repository_cmds",
        "delete",
        "Delete a backup (its manifest first, so an interrupted delete leaves it incomplete).",
    ),
    "demo": Entry(
        "demo_cmd",
        "demo",
        "The 2 AM story on scratch servers: backup, archiver, an accidental delete, point-in-time "
        "restore, proof.",
    ),
    "diff": Entry(
        "past_cmds", "diff", "What changed between two moments, per namespace, from the archived oplog alone."
    ),
    "drill": Entry(
        "drill_cmds",
        "drill",
        "Restore a moment into staging, prove the data is right, and time it against the RTO.",
    ),
    "export": Entry(
        "mongodump_cmds",
        "export",
        "Write BACKUP_ID (default: latest), or the state at --to T, as mongodump output (then: "
        "mongorestore --oplogReplay), or one namespace as JSON lines or CSV.",
    ),
    "history": Entry(
        "past_cmds",
        "history",
        "Every version of one document: its state in a base backup, then each change archived.",
    ),
    "import-mongodump": Entry(
        "mongodump_cmds",
        "import_mongodump",
        "Import a mongodump directory or archive (plain or gzip; - reads an archive from stdin) as a "
        "base backup; its oplog.bson becomes the backup's oplog bracket.",
    ),
    "incidents": Entry(
        "oplog_cmds",
        "incidents",
        "Find drops, dropped databases, renames over collections, bulk deletes and updates.",
    ),
    "info": Entry("backup_cmds", "info", "Details of one backup (or 'latest')."),
    "init": Entry("repository_cmds", "init", "Create a repository."),
    "list": Entry("backup_cmds", "list_backups", "List backups, complete and incomplete."),
    "metrics": Entry(
        "check_cmds",
        "metrics",
        "Serve Prometheus metrics read from the repository (each scrape reads it afresh).",
    ),
    "mount": Entry(
        "mount_cmds",
        "mount",
        "Serve a moment read-only on loopback: a MongoDB URI any driver, mongosh or Compass opens.",
    ),
    "notify": Entry("check_cmds", "notify", "Notifications ([alerts] notify in the plan)."),
    "plan": Entry("plan_cmds", "plan", "The recovery plan file (lifeboat.toml)."),
    "prune": Entry(
        "repository_cmds",
        "prune",
        "Apply the retention policy ([[repository]] keep_* and recovery_window, or the options).",
    ),
    "repair": Entry(
        "repair_cmds",
        "repair",
        "Copy a good copy over every damaged object (found by verify, a restore or the agent's "
        "sampling), checked there, written here, checked again.",
    ),
    "restore": Entry(
        "restore_cmd",
        "restore",
        "Restore BACKUP_ID (default: latest) into --target, consistent at its end_ts.",
    ),
    "snapshot": Entry(
        "snapshot_cmds",
        "snapshot",
        "Take a consistent volume snapshot of one member, recorded as a point-in-time base.",
    ),
    "stream": Entry(
        "oplog_cmds", "stream", "Archive the oplog continuously until SIGTERM/SIGINT (then flush and exit 0)."
    ),
    "timeline": Entry(
        "oplog_cmds",
        "timeline",
        "The restorable windows, the gaps between them, and the archiver's position and lag.",
    ),
    "undelete": Entry(
        "repair_cmds",
        "undelete",
        "Bring back a deleted backup that a versioned bucket still holds (S3 versioning or Object Lock: "
        "a delete only hid it behind delete markers), then verify it.",
    ),
    "undo": Entry(
        "undo_cmd", "undo", "Undo one incident (from `lifeboat incidents`), keeping every later write."
    ),
    "verify": Entry(
        "verify_cmds", "verify", "Re-read every object of a backup (default: latest): size, sha256, BSON."
    ),
}


def load(name: str) -> click.Command:
    entry = COMMANDS[name]
    module = importlib.import_module(f"{__package__}.{entry.module}")
    command = getattr(module, entry.attr)
    assert isinstance(command, click.Command)
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run (or its own help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The table's one-line help: listing the commands imports none of them.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(COMMANDS[name].short_help, limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words, as click shortens a command's help."""
    if len(text) <= limit:
        return text
    words, kept = text.split(), ""
    for word in words:
        if len(kept) + len(word) + 1 > limit - 3:
            break
        kept = f"{kept} {word}" if kept else word
    return kept.rstrip(",;:") + "..."
