"""A drill once per change of the setup.

``check drill-age`` says when the setup (the plan, the deployment, Lifeboat) is no longer the
one the last passing drill proved, and gives the current setup's signature. The agent waits
``[drill] after_change`` from the first check that saw a change — more changes meanwhile join
it rather than postpone it — then runs one drill. A signature it drilled for is never drilled
for again: a drill that passes makes it the proven setup; one that fails is said as a failed
drill, not retried every check.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..audit.result import Result


class ChangeDrills:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.pending: tuple[str, float] | None = None  # (signature, first seen)
        self.drilled: set[str] = set()

    def due(self, drill_age: Result | None, after_s: float | None, drilling: bool) -> list[str] | None:
        """The changes to drill for now, or None. ``drilling``: a drill is running already
        (the change waits for it to end; the drill it becomes may prove it)."""
        value = drill_age.value if drill_age is not None and isinstance(drill_age.value, dict) else {}
        signature, changed = value.get("signature"), value.get("changed")
        if after_s is None or not signature or not changed:
            self.pending = None
            return None
        if signature in self.drilled:
            return None
        first_seen = self.pending[1] if self.pending else self.clock()
        self.pending = (signature, first_seen)
        if drilling or self.clock() - first_seen < after_s:
            return None
        self.drilled.add(signature)
        self.pending = None
        return list(changed)
