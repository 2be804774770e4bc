"""Rendering: human output on stderr/stdout via rich, or exactly one JSON document on stdout.

With ``--json`` nothing but that one document is written to stdout; progress and
warnings go to stderr (and are silent with ``-q``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .secrets import redact


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    verbose: bool = False
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    _in_result: bool = False
    _revealed: tuple[str, ...] = ()

    @property
    def interactive(self) -> bool:
        return not self.quiet and self.err.is_terminal

    def result(
        self, data: dict[str, Any] | list[Any], render: Callable[[], None], reveal: tuple[str, ...] = ()
    ) -> None:
        """Emit the command's result: the JSON document, or the human rendering.

        ``reveal``: credentials that are the result itself (a mount's read-only URI, made for
        the caller to use): shown as they are, where everything else stays redacted."""
        self._revealed = reveal
        try:
            if self.json_mode:
                sys.stdout.write(self._shown(json.dumps(data, indent=2, default=str)) + "\n")
                sys.stdout.flush()
            else:
                self._in_result = True  # -q keeps the result: it only silences progress and notes
                try:
                    render()
                finally:
                    self._in_result = False
        finally:
            self._revealed = ()

    def _shown(self, text: str) -> str:
        text = redact(text)
        for value in self._revealed:
            text = text.replace(redact(value), value)
        return text

    def say(self, text: str) -> None:
        """A line of human output (suppressed by --json; by -q except in the result)."""
        if not self.json_mode and (not self.quiet or self._in_result):
            self.out.print(self._shown(text), highlight=False, markup=False)

    def say_marked(self, text: str) -> None:
        """:meth:`say` for a line with console markup (``[red]…[/red]``) written by the caller,
        who escapes any data in it (``rich.markup.escape``): styled on a terminal, plain text
        in a file, a pipe or cron's mail."""
        if self.json_mode or (self.quiet and not self._in_result):
            return
        shown = self._shown(text)
        if self.out.is_terminal:
            self.out.print(shown, highlight=False)
        else:
            self.out.print(Text.from_markup(shown).plain, highlight=False, markup=False)

    def note(self, text: str) -> None:
        """A status line on stderr (suppressed by -q)."""
        if not self.quiet:
            self.err.print(redact(text), highlight=False, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {redact(text)}", highlight=False)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class _DocsPerSecond(ProgressColumn):
    """Documents per second, from rich's own speed estimate of the task."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} docs/s" if task.speed else "? docs/s")


def _line_every_s() -> float:
    """Without a terminal: one progress line this often (LIFEBOAT_PROGRESS_SECONDS, default 10)."""
    try:
        return max(0.1, float(os.environ.get("LIFEBOAT_PROGRESS_SECONDS", "10")))
    except ValueError:
        return 10.0


class DocumentProgress:
    """A documents/bytes/rate/ETA bar on a terminal; periodic lines otherwise (or nothing)."""

    def __init__(self, output: Output, label: str, total_documents: int) -> None:
        self.output = output
        self.enabled = not output.quiet
        self.documents = 0
        self.bytes = 0
        self._bar: Progress | None = None
        if self.enabled and output.interactive:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("docs"),
                TextColumn("{task.fields[size]}"),  # bytes are bytes, counted apart from documents
                _DocsPerSecond(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),  # rich's own estimator over the recent rate
                console=output.err,
                transient=True,
            )
            # Unknown total (a first backup): rate and counts, no ETA.
            self._task = self._bar.add_task(label, total=total_documents or None, size="0 B")
            self._bar.start()
        self.label = label
        self.total = total_documents
        self._closed = threading.Event()
        if self.enabled and self._bar is None:
            # Without a terminal, a line every 10 s whether or not a batch just ended (a large
            # batch or a slow server would otherwise leave long silences).
            threading.Thread(target=self._tick, daemon=True, name="lifeboat-progress").start()

    def _tick(self) -> None:
        started = time.monotonic()
        every = _line_every_s()
        while not self._closed.wait(every):
            rate = self.documents / max(time.monotonic() - started, 1e-9)
            of = f"/{self.total}" if self.total else ""
            self.output.note(
                f"{self.label}: {self.documents}{of} documents, {self.bytes / 2**20:.1f} MiB, {rate:,.0f} docs/s"
            )

    def advance(self, documents: int, raw_bytes: int) -> None:
        self.documents += documents
        self.bytes += raw_bytes
        if self._bar is not None:
            self._bar.update(self._task, completed=self.documents, size=_size(self.bytes))

    def close(self) -> None:
        self._closed.set()
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
