"""How the set-up reports: progress bars and the run log as plain callbacks.

The layers below the runner never see a terminal display. A :data:`Tasks` callback opens a
progress bar for the duration of a block and yields its ``update(advance=1, **fields)``: the
runner passes its board's ``task`` (rich), the Flower apps :func:`no_progress`.
:class:`TrainingBar` adapts one to the training loop's start/update/finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Update = Callable[..., None]
Tasks = Callable[[str, int | None], AbstractContextManager[Update]]
"""``tasks(description, total)``: a block with one progress bar, yielding its ``update``."""
WriteEvent = Callable[..., None]
"""``write(event, **fields)``: one line of the run log (``EventLog.write``)."""


@contextmanager
def no_progress(description: str, total: int | None) -> Iterator[Update]:
    """A :data:`Tasks` that shows nothing."""
    yield lambda *args, **fields: None


class TrainingBar:
    """Adapts the training loop's ``start/update/finish`` callback to a bar opened by ``tasks``."""

    def __init__(self, tasks: Tasks, description: str) -> None:
        self._tasks = tasks
        self._description = description
        self._task: AbstractContextManager[Update] | None = None
        self._update: Update | None = None

    def start(self, total_steps: int) -> None:
        self._task = self._tasks(self._description, total_steps)
        self._update = self._task.__enter__()

    def update(self, step: int, loss: float, tokens_per_second: float) -> None:
        if self._update is not None:
            self._update(1, loss=loss, **{"tok/s": round(tokens_per_second)})

    def finish(self) -> None:
        if self._task is not None:
            self._task.__exit__(None, None, None)
            self._task = self._update = None
