"""The lazy command table (``cli.commands``) lists exactly the commands there are, under their
own names, with their own one-line help: `lifeboat --help` shows it without importing them."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click

from mongo_lifeboat import cli as cli_package
from mongo_lifeboat.cli.commands import COMMANDS, load


def _defined_commands() -> dict[str, click.Command]:
    """The top-level commands the cli modules define (a group's subcommands are not)."""
    commands: list[click.Command] = []
    nested: set[int] = set()
    for info in pkgutil.iter_modules(cli_package.__path__):
        if info.name == "main":
            continue
        module = importlib.import_module(f"mongo_lifeboat.cli.{info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Group):
                nested.update(id(c) for c in value.commands.values())
            if (
                isinstance(value, click.Command)
                and getattr(value.callback, "__module__", "") == module.__name__
            ):
                commands.append(value)
    return {c.name or "": c for c in commands if id(c) not in nested}


def test_the_table_holds_every_command_with_its_own_help() -> None:
    defined = _defined_commands()
    assert sorted(defined) == sorted(COMMANDS)
    for name, entry in COMMANDS.items():
        command = load(name)
        assert command is defined[name] and command.name == name
        assert entry.short_help == command.get_short_help_str(limit=1000), name


def test_help_lists_the_commands_without_importing_them() -> None:
    probe = (
        "import sys\n"
        "from mongo_lifeboat.cli.main import cli\n"
        "try:\n"
        "    cli.main(['--help'], prog_name='lifeboat')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('pymongo', 'pydantic', 'boto3', 'apprise', 'rich', 'mongo_lifeboat.config')"
        " if m in sys.modules]\n"
        "print('LOADED', heavy)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert "LOADED []" in run.stdout, run.stdout
    for name in COMMANDS:
        assert f"  {name} " in run.stdout
