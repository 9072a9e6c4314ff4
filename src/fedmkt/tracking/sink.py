"""The event log's sink that feeds the trackers: every event, as it is written, becomes points.

A tracker that fails mid-run (a locked database, a full disk) is dropped with one warning line and
the run goes on: ``metrics.jsonl`` holds every event, and ``fedmkt run --resume <run folder>`` (of a
finished run too) writes the trackers again from it. ``--debug`` raises instead.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterable
from typing import Any, Protocol

from fedmkt.tracking.points import Point, Points

_FLUSH_ON = frozenset({"round_end", "phase_end", "run_end"})


class Backend(Protocol):
    name: str

    def start(self, params: dict[str, Any], config_yaml: str) -> None: ...

    def log(self, points: list[Point]) -> None: ...

    def flush(self) -> None: ...

    def close(self, status: str) -> None: ...


class TrackerSink:
    """Called with each event record (``EventLog(sinks=[...])``); closes the trackers at ``run_end``."""

    def __init__(self, backends: list[Backend], points: Points) -> None:
        self.backends = list(backends)
        self.points = points
        self.replaying = False
        atexit.register(self._close, "FAILED")  # a run that stops without run_end

    def replay(self, records: Iterable[dict[str, Any]]) -> None:
        """Send what the log already holds (a resumed run's earlier sessions); its run_end closes nothing."""
        self.replaying = True
        try:
            for record in records:
                self(record)
        finally:
            self.replaying = False

    def __call__(self, record: dict[str, Any]) -> None:
        points = self.points(record)
        event = record.get("event")
        for backend in list(self.backends):
            with self._guard(backend):
                if points:
                    backend.log(points)
                if event in _FLUSH_ON:
                    backend.flush()
        if event == "run_end" and not self.replaying:
            self._close("FINISHED")

    def _close(self, status: str) -> None:
        atexit.unregister(self._close)
        for backend in list(self.backends):
            with self._guard(backend):
                backend.close(status)
        self.backends.clear()

    def _guard(self, backend: Backend) -> _Guard:
        return _Guard(self, backend)


class _Guard:
    """Drops a backend that raises, with one warning line (``--debug``: the error goes on up)."""

    def __init__(self, sink: TrackerSink, backend: Backend) -> None:
        self.sink, self.backend = sink, backend

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> bool:
        if error is None or not isinstance(error, Exception) or os.environ.get("FEDMKT_DEBUG") == "1":
            return False
        if self.backend in self.sink.backends:
            self.sink.backends.remove(self.backend)
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
        print(f"warning: tracking: {self.backend.name} stopped ({reason}); the run goes on, metrics.jsonl keeps "
              "every event, and `fedmkt run --resume <run folder>` writes the trackers again", file=sys.stderr)
        return True
