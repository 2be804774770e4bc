"""Run the archiver on a thread for a test, and stop it (draining) on exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mongo_lifeboat.oplog.archiver import Archiver, ArchiverOptions, ArchiverStats
from mongo_lifeboat.repo.repository import Repository


@contextmanager
def archiving(
    repo: Repository,
    uri: str,
    segment_seconds: float = 0.5,
    segment_bytes: int = 64 << 10,
    catch_up_s: float = 0.5,
) -> Iterator[ArchiverStats]:
    """Small segments (by size, so their number does not depend on the machine's speed)."""
    stop = threading.Event()
    archiver = Archiver(
        repo,
        ArchiverOptions(
            uri,
            segment_seconds=segment_seconds,
            segment_bytes=segment_bytes,
            poll_s=0.05,
            catch_up_s=catch_up_s,
        ),
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            archiver.run(stop)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, name="test-archiver")
    thread.start()
    try:
        yield archiver.stats
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
