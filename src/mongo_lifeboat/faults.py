"""Fault points for crash tests: ``LIFEBOAT_FAULT=<point>[:<n>]`` SIGKILLs the process
the n-th time (default 1st) execution passes ``crash_point("<point>")``;
``LIFEBOAT_FAULT=<point>:stall`` stops it there instead, until something kills it (a run
caught in the middle, for tests that kill its parent).

Unset (always, outside tests) it costs one dict lookup. Points:
``object-written`` (a temp file is written and fsynced, not yet renamed),
``object-committed`` (an object is in place), ``before-manifest``.
"""

from __future__ import annotations

import os
import signal
import threading

_counts: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    spec = os.environ.get("LIFEBOAT_FAULT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    if nth == "stall":
        threading.Event().wait()  # until killed
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
