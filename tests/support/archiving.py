"""Run the archiver on a thread for a test, and stop it (draining) on exit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bson import Timestamp

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.events import Update
from mongo_lifeboat.oplog.capture.archiver import Archiver, ArchiverOptions, ArchiverStats
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import to_str

from .waiting import wait_for


@contextmanager
def archiving(
    repo: Repository,
    uri: str,
    segment_seconds: float = 0.5,
    segment_bytes: int = 64 << 10,
    catch_up_s: float = 0.5,
    wait_started: bool = False,
    on_update: Callable[[Update], None] | None = None,
    **options: Any,
) -> Iterator[ArchiverStats]:
    """Small segments (by size, so their number does not depend on the machine's speed).
    ``wait_started``: enter once the archiver knows where it resumes from; ``on_update``: sees
    every update the archiver reports; ``options``: more ``ArchiverOptions``."""
    stop, started = threading.Event(), threading.Event()
    archiver = Archiver(
        repo,
        ArchiverOptions(
            uri,
            segment_seconds=segment_seconds,
            segment_bytes=segment_bytes,
            poll_s=0.05,
            catch_up_s=catch_up_s,
            **options,
        ),
        lambda u: (started.set() if u.name == "archiving" else None, on_update and on_update(u)),
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            archiver.run(stop)
        except BaseException as e:
            errors.append(e)
            started.set()

    thread = threading.Thread(target=run, name="test-archiver")
    thread.start()
    failure: BaseException | None = None
    try:
        if wait_started:
            wait_for(started.is_set, "the archiver to start")
        yield archiver.stats
    except BaseException as e:
        failure = e
        raise
    finally:
        stop.set()
        thread.join()
        if errors and failure is not None:  # say why the archiver stopped, not only what timed out
            raise errors[0] from failure
    if errors:
        raise errors[0]


def newest_ts(client: Any) -> Timestamp:
    """The source's newest oplog position."""
    entry = client.local["oplog.rs"].find_one(sort=[("$natural", -1)])
    assert entry is not None
    return entry["ts"]


def wait_archived(repo: Repository, ts: Timestamp, limit_s: float = 120) -> None:
    """Wait until the repository's archive reaches ``ts``."""
    wait_for(
        lambda: (load_history(repo).timeline.archived_to or Timestamp(0, 0)) >= ts,
        f"the archiver to reach {to_str(ts)}",
        limit_s,
    )
