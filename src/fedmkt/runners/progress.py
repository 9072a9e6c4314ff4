"""Rich progress bars for the CLI, handed to the library as plain callbacks.

Library code (training, evaluation) only calls ``update(advance=1, **fields)``; the run's phases
get :meth:`ProgressBoard.task` as their ``fedmkt.setup.callbacks.Tasks``. This module is the one
place that knows about rich, so the layers below stay free of terminal concerns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Update = Callable[..., None]


class ProgressBoard:
    """One live progress display; ``task()`` adds a bar for the duration of a block."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            disable=not enabled,
            transient=False,
        )

    def __enter__(self) -> ProgressBoard:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Update]:
        task_id = self._progress.add_task(description, total=total, info="")

        def update(advance: int = 1, **fields: Any) -> None:
            info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
            if fields:
                self._progress.update(task_id, advance=advance, info=info)
            else:
                self._progress.update(task_id, advance=advance)

        try:
            yield update
        finally:
            task = next(t for t in self._progress.tasks if t.id == task_id)
            self._progress.update(task_id, completed=task.total or task.completed)
            self._progress.stop_task(task_id)
