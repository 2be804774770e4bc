"""The map is true: every package and top-level module is in the layer contract that
``lint-imports`` enforces, and in the README's package table, in the same rows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "mongo_lifeboat"


def _modules() -> set[str]:
    """Every package (a directory with code) and top-level module of mongo_lifeboat."""
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return packages | modules


def _contract_rows() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c.get("containers") == ["mongo_lifeboat"]]
    rows = [{m.strip().strip("()") for m in re.split(r"[|:]", layer)} for layer in contract["layers"]]
    return list(reversed(rows))  # the README counts from the bottom


def _readme_rows() -> list[set[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### The packages, and what each may import", 1)[1].split("\n\n|", 1)[1]
    rows = []
    for line in ("|" + section).splitlines():
        if not line.startswith("| ") or line.startswith("| row") or line.startswith("| ---"):
            if rows:
                break
            continue
        names = line.split("|")[2]
        rows.append(set(re.findall(r"`([^`]+)`", names)))
    return rows


def test_every_package_is_in_the_enforced_contract_once() -> None:
    rows = _contract_rows()
    listed = [name for row in rows for name in row]
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == _modules(), set(listed) ^ _modules()


def test_the_readme_table_is_the_contract() -> None:
    assert _readme_rows() == _contract_rows()


# The packages that do a command's work; a front end's command module parses and words, and
# hands the work to at most three of them (the rest is theirs to orchestrate).
SERVICES = {
    "oplog",
    "catalog",
    "backup",
    "restore",
    "snapshot",
    "verify",
    "undo",
    "drill",
    "mongodump",
    "audit",
    "past",
}


def _imported_packages(path: Path) -> set[str]:
    return set(re.findall(r"^from \.\.(\w+)", path.read_text(), flags=re.M))


def test_each_command_module_hands_its_work_to_at_most_three_services() -> None:
    commands = sorted((PACKAGE / "cli").glob("*_cmd*.py"))
    assert len(commands) > 10
    over = {p.name: sorted(_imported_packages(p) & SERVICES) for p in commands}
    assert {name: used for name, used in over.items() if len(used) > 3} == {}


def test_the_agent_imports_no_command_line_module() -> None:
    importing = [p.name for p in (PACKAGE / "agent").glob("*.py") if "cli" in _imported_packages(p)]
    assert importing == []
