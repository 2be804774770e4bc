"""Apply the update forms found in oplog ``u`` entries to an in-memory document.

- ``$v: 2`` diffs (MongoDB 5.0+), the full grammar of DESIGN §4;
- change-stream style diffs (``updatedFields``/``removedFields``/``truncatedArrays``);
- ``$v: 1`` style modifiers (``$set``/``$unset``) from old servers;
- replacements are handled by the caller.

Functions return a new document; inputs are not modified.
"""

from __future__ import annotations

import copy
from typing import Any

Doc = dict[str, Any]

_SECTIONS = ("d", "u", "i", "b")


class UpdateFormatError(ValueError):
    """An update entry that matches none of the known forms."""


def is_replacement(o: Doc) -> bool:
    return "$v" not in o and not any(k.startswith("$") for k in o)


def apply_update(doc: Doc, o: Doc) -> Doc:
    """Apply the update ``o`` of a ``u`` oplog entry (not a replacement) to ``doc``."""
    version = o.get("$v")
    if "diff" in o and (version == 2 or version is None):
        diff = o["diff"]
        if "updatedFields" in diff or "removedFields" in diff or "truncatedArrays" in diff:
            return apply_changestream_diff(doc, diff)
        return apply_doc_diff(doc, diff)
    if version in (None, 1) and any(k in o for k in ("$set", "$unset")):
        return apply_modifiers(doc, o)
    raise UpdateFormatError(f"unknown update form: {sorted(o)}")


# -- $v: 2 -----------------------------------------------------------------


def apply_doc_diff(doc: Doc, diff: Doc) -> Doc:
    deletes = diff.get("d", {})
    updates = diff.get("u", {})
    inserts = diff.get("i", {})
    subdiffs = {k[1:]: v for k, v in diff.items() if k.startswith("s") and k not in _SECTIONS}
    out: Doc = {}
    for name, value in doc.items():
        if name in deletes or name in inserts:
            continue  # deleted, or moved to the end by an insert
        if name in updates:
            out[name] = copy.deepcopy(updates[name])
        elif name in subdiffs:
            out[name] = _apply_subdiff(value, subdiffs[name])
        else:
            out[name] = value
    for name, value in updates.items():
        if name not in doc:
            out[name] = copy.deepcopy(value)  # new fields from u are appended
    for name, value in inserts.items():
        out[name] = copy.deepcopy(value)
    return out


def _is_array_diff(sub: Doc) -> bool:
    return bool(sub) and next(iter(sub)) == "a" and sub["a"] is True


def _apply_subdiff(value: Any, sub: Doc) -> Any:
    if _is_array_diff(sub):
        return _apply_array_diff(value, sub) if isinstance(value, list) else None
    return apply_doc_diff(value, sub) if isinstance(value, dict) else None


def _apply_array_diff(arr: list[Any], diff: Doc) -> list[Any]:
    out = list(arr)
    if "l" in diff:
        del out[int(diff["l"]) :]
    for key, value in diff.items():
        if key in ("a", "l"):
            continue
        kind, idx = key[0], int(key[1:])
        if kind == "u":
            while len(out) < idx:
                out.append(None)
            if idx < len(out):
                out[idx] = copy.deepcopy(value)
            else:
                out.append(copy.deepcopy(value))
        elif kind == "s":
            if idx < len(out):
                out[idx] = _apply_subdiff(out[idx], value)
            else:
                while len(out) <= idx:
                    out.append(None)  # a sub-diff past the end: mongod pads with null
        else:
            raise UpdateFormatError(f"unknown array diff field {key!r}")
    if "l" in diff:
        while len(out) < int(diff["l"]):
            out.append(None)
    return out


# -- change-stream style ------------------------------------------------------


def apply_changestream_diff(doc: Doc, diff: Doc) -> Doc:
    out = copy.deepcopy(doc)
    for item in diff.get("truncatedArrays", []) or []:
        container, last = _walk(out, item["field"].split("."), create=False)
        if container is not None and isinstance(_get(container, last), list):
            del _get(container, last)[int(item["newSize"]) :]
    for path in diff.get("removedFields", []) or []:
        _unset(out, path)
    for path, value in (diff.get("updatedFields") or {}).items():
        _set(out, path, copy.deepcopy(value))
    return out


# -- $v: 1 modifiers -----------------------------------------------------------


def apply_modifiers(doc: Doc, o: Doc) -> Doc:
    out = copy.deepcopy(doc)
    for path in o.get("$unset", {}) or {}:
        _unset(out, path)
    for path, value in (o.get("$set") or {}).items():
        _set(out, path, copy.deepcopy(value))
    return out


# -- dotted-path helpers: a numeric part indexes an array, otherwise names a field --


def _get(container: Any, part: str) -> Any:
    if isinstance(container, list):
        return container[int(part)] if part.isdigit() and int(part) < len(container) else None
    return container.get(part) if isinstance(container, dict) else None


def _walk(doc: Doc, parts: list[str], create: bool) -> tuple[Any, str]:
    node: Any = doc
    for part in parts[:-1]:
        child = _get(node, part)
        if child is None or not isinstance(child, dict | list):
            if not create:
                return None, parts[-1]
            child = {}
            _put(node, part, child)
        node = child
    return node, parts[-1]


def _put(container: Any, part: str, value: Any) -> None:
    if isinstance(container, list) and part.isdigit():
        idx = int(part)
        while len(container) <= idx:
            container.append(None)
        container[idx] = value
    elif isinstance(container, dict):
        container[part] = value


def _set(doc: Doc, path: str, value: Any) -> None:
    container, last = _walk(doc, path.split("."), create=True)
    _put(container, last, value)


def _unset(doc: Doc, path: str) -> None:
    container, last = _walk(doc, path.split("."), create=False)
    if isinstance(container, dict):
        container.pop(last, None)
    elif isinstance(container, list) and last.isdigit() and int(last) < len(container):
        container[int(last)] = None  # $unset of an array element leaves null, as mongod does
