"""SIGINT and SIGTERM for the one-shot commands: stop within seconds, clean up, say so.

The first signal sets :data:`cancelled` and raises :class:`Interrupted` in the main thread,
so every ``finally`` there runs (scratch servers stopped, leases released, partial uploads
abandoned); worker threads see :data:`cancelled` at their next batch (:func:`check`) and
end, so no pool waits forever on a queue. A second signal exits at once, skipping cleanup.
Commands that stop gracefully on a signal (``stream``, ``agent``) install their own handlers.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from .errors import Interrupted

cancelled = threading.Event()
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def check() -> None:
    """Raise :class:`Interrupted` in a worker once the command was interrupted."""
    if cancelled.is_set():
        raise Interrupted("interrupted")


def _handler(signum: int, _frame: Any) -> None:
    sig = signal.Signals(signum)
    if cancelled.is_set():
        sys.stderr.write(f"error: {sig.name} again: exiting now, without cleaning up\n")
        sys.stderr.flush()
        os._exit(EXIT_CODES.get(sig, 130))
    cancelled.set()
    raise Interrupted(f"interrupted by {sig.name}", EXIT_CODES.get(sig, 130))


def install() -> None:
    """In the main thread, before a command runs."""
    for sig in EXIT_CODES:
        signal.signal(sig, _handler)


def exit_soon(code: int, grace_s: float = 3.0) -> None:
    """After an interruption: if threads still hold the interpreter after ``grace_s`` (a
    request the server has not answered yet), leave without them."""
    timer = threading.Timer(grace_s, lambda: os._exit(code))
    timer.daemon = True
    timer.start()
