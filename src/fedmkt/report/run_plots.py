"""A run folder's ``plots/``: for each metric, methods side by side and scores after each round.

One function for every writer of a run folder (the in-process runner writes the same two figures
per metric; a Flower run's folder gets them from its ``results.json`` after the run).
"""

from __future__ import annotations

from pathlib import Path

from fedmkt.report.plots import plot_methods, plot_rounds
from fedmkt.report.results import ResultRow, read_results


def write_run_plots(rows: list[ResultRow], run_dir: Path) -> list[Path]:
    """``plots/methods_<metric>.png`` and ``plots/rounds_<metric>.png`` (when rows have rounds); the files written."""
    written = []
    for metric in sorted({r.metric for r in rows}):
        written += [plot_methods(rows, metric, run_dir / "plots" / f"methods_{metric}.png"),
                    plot_rounds(rows, metric, run_dir / "plots" / f"rounds_{metric}.png")]
    return [path for path in written if path is not None]


def plots_from_results(run_dir: Path) -> list[Path]:
    """:func:`write_run_plots` from the folder's ``results.json``."""
    return write_run_plots(read_results(run_dir / "results.json"), run_dir)
