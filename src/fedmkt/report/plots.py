"""PNG plots of a run: each model's score per method, and per round where methods have rounds.

Readable at a glance with many series: the legend stands outside the axes (right of them), so it
never covers a line or a bar; in the per-round plot a method keeps one colour and a participant
one marker, the zero-shot references are grey lines named in the legend rather than text on the
plot, and rounds are whole-number ticks (a one-round run included). Figures use matplotlib's
constrained layout, which makes room for the title, labels and legend instead of clipping them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedmkt.report.results import ResultRow
from fedmkt.report.table import _final_rows, _method_rank

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
ZERO_SHOT_STYLES = ("--", ":", "-.", (0, (5, 2, 1, 2, 1, 2)), (0, (1, 3)))
_LISTED_TICKS = 15  # up to this many rounds, each round is a tick


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(i: int, n: int) -> Any:
    """Matplotlib's ten default colours; tab20 when there are more series than that."""
    if n <= 10:
        return f"C{i}"
    return _pyplot().get_cmap("tab20")(i % 20)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _legend(fig: Figure, entries: int) -> None:
    """Right of the axes, never over them; two columns once one would run off the figure."""
    fig.legend(loc="outside right upper", fontsize=8, ncols=1 if entries <= 16 else 2, frameon=False)


def methods_figure(rows: list[ResultRow], metric: str) -> Figure | None:
    """Grouped bars: one group per participant, one bar per method, with 95% CI whiskers."""
    picked = [r for r in _final_rows(rows) if r.metric == metric]
    if not picked:
        return None
    plt = _pyplot()
    participants = sorted({r.participant for r in picked}, key=lambda p: (p != "server", p))
    methods = sorted({r.method for r in picked}, key=_method_rank)
    colours = {m: _colour(i, len(methods)) for i, m in enumerate(methods)}
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(participants) + 2) + 1.8, 4), layout="constrained")
    labelled: set[str] = set()
    for j, p in enumerate(participants):
        present = [r for m in methods for r in picked if r.method == m and r.participant == p]
        width = 0.8 / len(present)
        for i, row in enumerate(present):
            x = j + (i - (len(present) - 1) / 2) * width
            err = [[row.value - row.ci_low], [row.ci_high - row.value]]
            label = row.method if row.method not in labelled else None
            labelled.add(row.method)
            ax.bar([x], [row.value], width, yerr=err, capsize=3, color=colours[row.method], label=label)
    ax.set_xticks(range(len(participants)), participants)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_ylim(0, max(100.0, max(r.ci_high for r in picked) * 1.05))
    ax.set_title(f"{picked[0].task}: {metric} by method (95% CI)")
    _legend(fig, len(methods))
    return fig


def plot_methods(rows: list[ResultRow], metric: str, path: Path) -> Path | None:
    """:func:`methods_figure` as a PNG at ``path``; None when no row has ``metric``."""
    fig = methods_figure(rows, metric)
    return None if fig is None else _save(fig, path)


def rounds_figure(rows: list[ResultRow], metric: str) -> Figure | None:
    """Score after each round, one line per (method, participant); zero-shot scores as grey reference lines."""
    picked = [r for r in rows if r.metric == metric and r.round is not None]
    if not picked:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    methods = sorted({r.method for r in picked}, key=_method_rank)
    participants = sorted({r.participant for r in picked}, key=lambda p: (p != "server", p))
    for key in sorted({(r.method, r.participant) for r in picked}, key=lambda k: (_method_rank(k[0]), k[1])):
        series = sorted((r for r in picked if (r.method, r.participant) == key), key=lambda r: r.round or 0)
        ax.plot([r.round for r in series], [r.value for r in series], label=f"{key[0]} / {key[1]}",
                color=_colour(methods.index(key[0]), len(methods)),
                marker=MARKERS[participants.index(key[1]) % len(MARKERS)], markersize=6, linewidth=1.6)
    zero_shot = {(r.method, r.model): r.value for r in rows if r.metric == metric and r.method in ("LLM-ZS", "SLM-ZS")}
    for i, ((method, model), value) in enumerate(sorted(zero_shot.items())):
        ax.axhline(value, linestyle=ZERO_SHOT_STYLES[i % len(ZERO_SHOT_STYLES)], linewidth=1.2, color="grey",
                   label=f"{method} ({model}), zero-shot")
    rounds = sorted({r.round for r in picked if r.round is not None})
    if len(rounds) <= _LISTED_TICKS:
        ax.set_xticks(rounds)
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(rounds[0] - 0.5, rounds[-1] + 0.5)
    ax.set_title(f"{picked[0].task}: {metric} after each round")
    ax.set_xlabel("round")
    ax.set_ylabel(f"{metric} (%)")
    _legend(fig, len(ax.get_legend_handles_labels()[1]))
    return fig


def plot_rounds(rows: list[ResultRow], metric: str, path: Path) -> Path | None:
    """:func:`rounds_figure` as a PNG at ``path``; None when no row of ``metric`` has a round."""
    fig = rounds_figure(rows, metric)
    return None if fig is None else _save(fig, path)
