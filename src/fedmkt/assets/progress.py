"""Show each step of a fetch (downloading, assembling, converting, verifying) and time it.

A ``StepLog`` is a rich progress display with one row per step: a bar when the step knows its
size in bytes, a spinner otherwise, and the elapsed time, which stays on screen when the step
ends. The durations are also kept (``timings``) so they can go into the asset's manifest.
With ``enabled=False`` nothing is printed and only the timings are recorded. When the caller
already shows a rich live display (rich allows one at a time), each step prints one line
when it ends instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


@dataclass(frozen=True)
class StepTiming:
    asset: str
    step: str
    seconds: float


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class StepLog:
    """Context manager around a rich ``Progress``; ``step()`` opens one timed row."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.timings: list[StepTiming] = []
        self._progress: Progress | None = None
        self._console = console
        self._lines: Console | None = None  # set when another live display is active

    def __enter__(self) -> StepLog:
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self._console,
            )
            try:
                self._progress.start()
            except LiveError:
                self._lines = self._progress.console
                self._progress = None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._lines = None

    def print(self, message: str) -> None:
        """A line above the progress rows (nothing when disabled)."""
        console = self._progress.console if self._progress is not None else self._lines
        if console is not None:
            console.print(message)

    @contextmanager
    def step(self, asset: str, action: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Time one step; yields ``advance(n_bytes)`` for steps with a known ``total`` in bytes."""
        start = time.perf_counter()
        progress = self._progress
        task: TaskID | None = None
        if progress is not None:
            detail = human_bytes(total) if total else ""
            task = progress.add_task(f"{asset}: {action}", total=total, detail=detail)

        def advance(n: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, n)

        try:
            yield advance
        except BaseException:
            if progress is not None and task is not None:
                progress.update(task, description=f"[red]{asset}: {action} failed[/]")
                progress.stop_task(task)
            raise
        seconds = time.perf_counter() - start
        self.timings.append(StepTiming(asset, action, seconds))
        if self._lines is not None:
            self._lines.print(f"[green]✓[/] {asset}: {action} ({seconds:.1f} s)")
        if progress is not None and task is not None:
            done = total if total else 1
            progress.update(task, total=done, completed=done)

    def seconds(self, asset: str) -> dict[str, float]:
        """Step -> seconds (rounded to 0.1 s) recorded so far for ``asset``."""
        return {t.step: round(t.seconds, 1) for t in self.timings if t.asset == asset}
