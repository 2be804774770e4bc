"""What happened on a deployment after a position, read live through now: from the oplog
(proving the read reached back to the position) or from a change stream (where this user may
not read the oplog). A drill's proof and an undo read past the archive this way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import bson
from bson import Timestamp
from pymongo import MongoClient

from ...errors import LifeboatError
from ...mongo.codec import CODEC
from ...timestamps import just_before, to_str
from ..reader import OplogReader, oldest_ts
from .change_tail import streamed_through_now

Entry = dict[str, Any]


def decoded(raw_entries: Iterable[Any]) -> Iterator[Entry]:
    for raw in raw_entries:
        yield bson.decode(raw.raw, codec_options=CODEC)


class Since:
    """The entries after ``after`` through now, decoded, in order (iterate once). Once they are
    read, ``incomplete`` says why not all of them could be (None: they were)."""

    def __init__(self, client: MongoClient[Any], after: Timestamp) -> None:
        self.client = client
        self.after = after
        self.incomplete: str | None = None

    def __iter__(self) -> Iterator[Entry]:
        raise NotImplementedError


class OplogSince(Since):
    def __iter__(self) -> Iterator[Entry]:
        reader = OplogReader(self.client, self.after)
        while True:
            entries, caught_up = reader.read()
            yield from decoded(entries)
            if caught_up:
                break
        # A read that found its start again proves nothing was trimmed; else the oldest entry
        # must leave no room for one between the position and it.
        oldest = oldest_ts(self.client) if reader.unproven_from is not None else None
        if oldest is not None and just_before(oldest) > self.after:
            self.incomplete = (
                f"the history after {to_str(self.after)} is not all there: "
                f"the source's oplog starts at {to_str(oldest)}"
            )


class StreamSince(Since):
    def __iter__(self) -> Iterator[Entry]:
        try:
            yield from decoded(streamed_through_now(self.client, self.after))
        except LifeboatError as e:  # the history moved on, or an event no entry expresses
            self.incomplete = f"the change stream after {to_str(self.after)} cannot all be read: {e.message}"
