"""Canonical Extended JSON v2 round-trips, so BSON types survive JSON files exactly."""

from __future__ import annotations

import json
from typing import Any

from bson import json_util
from bson.codec_options import DatetimeConversion

from .mongo.codec import CODEC

_CANONICAL = json_util.JSONOptions(
    json_mode=json_util.JSONMode.CANONICAL,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    document_class=dict,
)
_LOADS = json_util.JSONOptions(
    json_mode=json_util.JSONMode.CANONICAL,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    document_class=dict,
    uuid_representation=CODEC.uuid_representation,
)


def to_ejson(value: Any) -> Any:
    """A BSON value -> plain JSON-compatible data in canonical Extended JSON."""
    return json.loads(json_util.dumps(value, json_options=_CANONICAL))


def from_ejson(value: Any) -> Any:
    """The inverse of :func:`to_ejson`."""
    return json_util.loads(json.dumps(value), json_options=_LOADS)


def dumps(value: Any) -> str:
    return json_util.dumps(value, json_options=_CANONICAL)


def loads(text: str) -> Any:
    """Extended JSON text (canonical or relaxed) -> BSON values, as :func:`from_ejson` does."""
    return json_util.loads(text, json_options=_LOADS)


_RELAXED = json_util.JSONOptions(
    json_mode=json_util.JSONMode.RELAXED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    document_class=dict,
)


def to_relaxed(value: Any) -> Any:
    """A BSON value -> relaxed Extended JSON (numbers stay numbers): for people and scripts."""
    return json.loads(json_util.dumps(value, json_options=_RELAXED))
