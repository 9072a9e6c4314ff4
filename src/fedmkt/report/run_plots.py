"""A run folder's ``plots/``: for each metric, methods side by side and scores after each round.

One function for every writer of a run folder (the in-process runner writes the same two figures
per metric; a Flower run's folder gets them from its ``results.json`` after the run). A domain
federation's rows span several tasks: each domain gets its own figures, named after it.
"""

from __future__ import annotations

from pathlib import Path

from fedmkt.report.plots import plot_methods, plot_rounds
from fedmkt.report.results import ResultRow, read_results


def write_run_plots(rows: list[ResultRow], run_dir: Path) -> list[Path]:
    """``plots/methods_<metric>.png`` and ``plots/rounds_<metric>.png`` (when rows have rounds); the files written.

    With rows of several tasks (domains), ``methods_<task>_<metric>.png`` and ``rounds_<task>_<metric>.png``.
    """
    tasks = sorted({r.task for r in rows})
    written = []
    for task in tasks:
        picked = [r for r in rows if r.task == task]
        prefix = f"{task}_" if len(tasks) > 1 else ""
        for metric in sorted({r.metric for r in picked}):
            written += [plot_methods(picked, metric, run_dir / "plots" / f"methods_{prefix}{metric}.png"),
                        plot_rounds(picked, metric, run_dir / "plots" / f"rounds_{prefix}{metric}.png")]
    return [path for path in written if path is not None]


def plots_from_results(run_dir: Path) -> list[Path]:
    """:func:`write_run_plots` from the folder's ``results.json``."""
    return write_run_plots(read_results(run_dir / "results.json"), run_dir)
