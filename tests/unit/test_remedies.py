"""Services state what to do as a fact; each front end words it (issue 19, item 5)."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongo_lifeboat import errors
from mongo_lifeboat.agent.remedies import agent_words
from mongo_lifeboat.cli.remedies import COMMANDS, command_line
from mongo_lifeboat.mongo.members import Member, choose
from mongo_lifeboat.remedies import PLAIN, Remedy, plain

SRC = Path(errors.__file__).parent
# Where a command or a flag of ours may be named: the command line itself, the demo (a
# scripted CLI session that prints what it runs), remedies' plain words, and the example plan
# (a document, whose comments say which command reads it).
FRONT_ENDS = {"cli", "demo"}
DOCUMENTS = {"remedies.py", "example_plan.py"}
OURS = re.compile(
    r"\blifeboat (init|list|backup|restore|stream|verify|repair|delete|drill|snapshot|timeline|incidents|undo|copy|prune|check|plan)\b"
)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("action", sorted(PLAIN))
def test_every_remedy_is_worded_by_the_command_line_with_the_same_facts(action: str) -> None:
    assert action in COMMANDS
    assert _fields(COMMANDS[action]) == _fields(PLAIN[action])
    args = {name: f"<{name}>" for name in _fields(PLAIN[action])}
    remedy = Remedy(action, args)
    for word in (plain, command_line, agent_words):
        worded = word(remedy)
        assert all(v in worded for v in args.values()), (word, worded)
    assert "--" not in plain(remedy) and "lifeboat " not in plain(remedy)
    assert "--" not in agent_words(remedy) and "lifeboat " not in agent_words(remedy)


def test_the_command_line_words_no_remedy_that_does_not_exist() -> None:
    assert set(COMMANDS) == set(PLAIN)


def test_an_error_words_its_remedy_per_front_end() -> None:
    e = errors.TargetNotEmpty("shop.orders holds documents")
    assert e.hint == "replace those namespaces (drop them first), or restore elsewhere"
    assert e.worded_hint(command_line) == "pass --drop to replace those namespaces, or restore elsewhere"
    own = errors.TargetNotEmpty("x", "restore into other names")  # a hint of its own: no default remedy
    assert own.remedy is None and own.worded_hint(command_line) == "restore into other names"


def test_a_remedys_facts_are_redacted_when_worded() -> None:
    e = errors.RepositoryError("x", "{do}", Remedy("copy", {"source": "s3://k:hunter2@h/b", "target": "b"}))
    assert "hunter2" not in e.hint and "hunter2" not in e.worded_hint(command_line)


def test_a_service_raises_a_remedy_not_a_flag() -> None:
    with pytest.raises(errors.SourceUnreachable) as caught:
        choose([Member("p:1", "SECONDARY", lag_s=120.0)], "secondary")
    assert caught.value.remedy == Remedy("member", {"member": "primary"})
    assert "--member" not in caught.value.hint
    assert caught.value.worded_hint(command_line) == "use --member primary"


def _strings(tree: ast.AST) -> Iterator[ast.Constant]:
    """Every string literal but docstrings (a docstring may well say which command runs the code)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_service_names_one_of_our_commands() -> None:
    """Outside the front ends no string names a lifeboat command: what to do is a Remedy."""
    named = []
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] in FRONT_ENDS or path.name in DOCUMENTS:
            continue
        for node in _strings(ast.parse(path.read_text())):
            if OURS.search(node.value):
                named.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    assert not named, "\n".join(named)
