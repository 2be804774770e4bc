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
    """``disambiguatedPaths`` (where the server gave them) name each part of a path exactly:
    an int indexes an array, a string names a field (even one holding a dot or a digit)."""
    out = copy.deepcopy(doc)
    exact = diff.get("disambiguatedPaths") or {}

    def parts(path: str) -> list[Part]:
        return list(exact[path]) if path in exact else list(path.split("."))

    for item in diff.get("truncatedArrays", []) or []:
        container, last = _walk(out, parts(item["field"]), create=False)
        if container is not None and isinstance(_get(container, last), list):
            del _get(container, last)[int(item["newSize"]) :]
    for path in diff.get("removedFields", []) or []:
        _unset_parts(out, parts(path))
    for path, value in (diff.get("updatedFields") or {}).items():
        container, last = _walk(out, parts(path), create=True)
        _put(container, last, copy.deepcopy(value))
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


Part = str | int  # a dotted path's part; an int (from disambiguatedPaths) always indexes


def _index(part: Part) -> int | None:
    if isinstance(part, int):
        return part
    return int(part) if part.isdigit() else None


def _get(container: Any, part: Part) -> Any:
    if isinstance(container, list):
        i = _index(part)
        return container[i] if i is not None and i < len(container) else None
    return container.get(part) if isinstance(container, dict) and isinstance(part, str) else None


def _walk(doc: Doc, parts: list[Part], create: bool) -> tuple[Any, Part]:
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


def _put(container: Any, part: Part, value: Any) -> None:
    idx = _index(part)
    if isinstance(container, list) and idx is not None:
        while len(container) <= idx:
            container.append(None)
        container[idx] = value
    elif isinstance(container, dict):
        container[str(part)] = value


def _set(doc: Doc, path: str, value: Any) -> None:
    container, last = _walk(doc, list(path.split(".")), create=True)
    _put(container, last, value)


def _unset(doc: Doc, path: str) -> None:
    _unset_parts(doc, list(path.split(".")))


def _unset_parts(doc: Doc, parts: list[Part]) -> None:
    container, last = _walk(doc, parts, create=False)
    idx = _index(last)
    if isinstance(container, dict):
        container.pop(str(last), None)
    elif isinstance(container, list) and idx is not None and idx < len(container):
        container[idx] = None  # $unset of an array element leaves null, as mongod does
