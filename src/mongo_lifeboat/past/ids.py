"""One document's ``_id``: read from what an operator types, found in raw BSON without decoding.

MongoDB compares ``_id`` values, not their BSON types, where numbers are concerned: 1, 1.0 and
NumberLong(1) are one ``_id``. Everything else is equal only when its encoding is."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import bson
from bson import Decimal128, Int64

from ..ejson import loads, to_relaxed
from ..errors import UsageError

_NUMBERS = (int, float, Int64, Decimal128)


def parse_id(text: str) -> Any:
    """An ``_id`` as relaxed (or canonical) Extended JSON: ``'{"$oid": "…"}'``, ``42``,
    ``"A-17"``; a bare word is taken as a string."""
    try:
        value = loads(text)
    except Exception:  # malformed JSON, a bad $oid, an unknown $type: all the same to the user
        if text and not text.lstrip().startswith(("{", "[", '"', "-")) and not text[:1].isdigit():
            return text
        raise UsageError(f"not an _id: {text!r}", _HOW) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"not an _id: {text!r} is not a finite number", _HOW)
    if isinstance(value, Decimal128) and not value.to_decimal().is_finite():
        raise UsageError(f"not an _id: {text!r} is not a finite number", _HOW)
    return value


_HOW = 'write it as Extended JSON: \'{"$oid": "65a1…"}\', 42 or \'"A-17"\''
_TYPE_NAMES = {str: "string", int: "int", float: "double", Int64: "long", Decimal128: "decimal", bool: "bool"}


def describe_id(value: Any) -> str:
    """How an ``_id`` was read, to show back: ``7 (int)``, ``"7" (string)``, ``{"$oid": …} (objectId)``."""
    shown = json.dumps(to_relaxed(value), sort_keys=False)
    kind = _TYPE_NAMES.get(type(value)) or type(value).__name__[:1].lower() + type(value).__name__[1:]
    if type(value) is int and not -(2**31) <= value < 2**31:
        kind = "long"
    return f"{shown} ({kind})"


def id_elements(value: Any) -> list[bytes]:
    """The BSON encodings of ``{_id: value}``'s element (type, name, value) that MongoDB takes
    for this ``_id``: one, or for a whole number each numeric type that can hold it."""
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return [_element(value)]
    number = value.to_decimal() if isinstance(value, Decimal128) else value
    forms: list[Any] = []
    if number == int(number):
        whole = int(number)
        if -(2**31) <= whole < 2**31:
            forms.append(whole)
        if -(2**63) <= whole < 2**63:
            forms.append(Int64(whole))
    forms += [float(number), Decimal128(str(number))]
    return [_element(f) for f in forms]


def _element(value: Any) -> bytes:
    return bson.encode({"_id": value})[4:-1]


def element_of(value: Any) -> bytes:
    """``value`` as an ``_id`` element: a key that keeps BSON types apart."""
    return _element(value)


def value_of(element: bytes) -> Any:
    """The inverse of :func:`element_of`."""
    return bson.decode(struct.pack("<i", len(element) + 5) + element + b"\x00")["_id"]


def same_id(a: Any, b: Any) -> bool:
    if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS) and not isinstance(a, bool | Decimal128):
        return bool(a == b) if not isinstance(b, Decimal128) else a == b.to_decimal()
    if isinstance(a, Decimal128) and isinstance(b, _NUMBERS):
        return same_id(b, a) if not isinstance(b, Decimal128) else a == b
    return _element(a) == _element(b)


def ns_pattern(ns: str) -> bytes:
    """The bytes of an oplog entry's ``ns`` element naming ``ns``: found in a raw entry before
    anything is decoded."""
    name = ns.encode()
    return b"\x02ns\x00" + struct.pack("<i", len(name) + 1) + name + b"\x00"


COMMAND = b"\x02op\x00\x02\x00\x00\x00c\x00"  # an entry's op: "c" (commands, applyOps, transactions)
