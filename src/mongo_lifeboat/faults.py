"""Fault points for crash tests: ``LIFEBOAT_FAULT=<point>[:<n>]`` SIGKILLs the process
the n-th time (default 1st) execution passes ``crash_point("<point>")``;
``LIFEBOAT_FAULT=<point>:stall`` stops it there instead, until something kills it (a run
caught in the middle, for tests that kill its parent); ``LIFEBOAT_FAULT=<point>:sigint``
(or ``:sigterm``) sends the process that signal the first time, as a person or a service
manager would, at a point inside a parallel phase.

Unset (always, outside tests) it costs one dict lookup. Points:
``object-written`` (a temp file is written and fsynced, not yet renamed),
``object-committed`` (an object is in place), ``before-manifest``.
"""

from __future__ import annotations

import os
import signal
import sys
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
    if nth in ("sigint", "sigterm"):
        with _lock:
            _counts[name] = _counts.get(name, 0) + 1
            if _counts[name] == 1:
                sys.stderr.write(f"fault: {nth} at {name}\n")  # the test times the exit from here
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGINT if nth == "sigint" else signal.SIGTERM)
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
