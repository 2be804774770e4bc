"""What a run works with, opened once for both front ends (the command line and the agent):
the plan, the console, the repositories (as one where the plan names several) and the sinks
every outcome reaches. ``cli`` and ``agent`` both build on this; neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Plan
from ..events import EventPipe, Reporter, tee
from ..output import Output


@dataclass
class Session:
    output: Output
    plan: Plan
    plan_path: Path | None = None  # the file it came from (None: defaults)
    events: EventPipe | None = None  # a supervisor reads this run's events (--events-fd)

    def reporter(self, *shown: Reporter) -> Reporter:
        """Where this run's updates go: to ``shown`` (what the console prints of them) and,
        under a supervisor, to its events pipe as well."""
        return tee(*shown, self.events.update if self.events is not None else None)
