"""What changed between two versions of a document, by dotted path: fields set (with their
new value), fields removed, arrays cut short. A document that appears or goes is one change."""

from __future__ import annotations

from typing import Any

from ..ejson import to_relaxed

Doc = dict[str, Any]


def changes(before: Doc | None, after: Doc | None) -> dict[str, Any]:
    if before is None and after is None:
        return {}
    if before is None:
        return {"created": to_relaxed(after)}
    if after is None:
        return {"gone": True}
    out: dict[str, Any] = {"set": {}, "removed": [], "truncated": {}}
    _compare(before, after, "", out)
    return {k: v for k, v in out.items() if v}


def _compare(before: Any, after: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in after.items():
            where = f"{path}{key}"
            if key not in before:
                out["set"][where] = to_relaxed(value)
            else:
                _compare(before[key], value, where + ".", out)
        out["removed"] += [f"{path}{key}" for key in before if key not in after]
        return
    if isinstance(before, list) and isinstance(after, list):
        for i, value in enumerate(after):
            if i < len(before):
                _compare(before[i], value, f"{path}{i}.", out)
            else:
                out["set"][f"{path}{i}"] = to_relaxed(value)
        if len(after) < len(before):
            out["truncated"][path.rstrip(".")] = len(after)
        return
    if type(before) is not type(after) or before != after:
        out["set"][path.rstrip(".")] = to_relaxed(after)
