"""Whether a process on this host is still running: one answer for leases and mounts."""

from __future__ import annotations

import os


def alive(pid: int | None) -> bool:
    """Running now: present and not a zombie (an ended process its parent has not reaped yet,
    such as a mount's keeper started by the agent, counts as ended)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: present, and not ours to judge further
    return not zombie(pid)


def zombie(pid: int) -> bool:
    """Dead but not yet reaped (in a container whose PID 1 does not reap orphans, for long)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return False
