"""PNG plots of a run: each model's score per method, and per round where methods have rounds."""

from __future__ import annotations

from pathlib import Path

from fedmkt.report.results import ResultRow
from fedmkt.report.table import _final_rows, _method_rank


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_methods(rows: list[ResultRow], metric: str, path: Path) -> Path | None:
    """Grouped bars: one group per participant, one bar per method, with 95% CI whiskers."""
    picked = [r for r in _final_rows(rows) if r.metric == metric]
    if not picked:
        return None
    plt = _pyplot()
    participants = sorted({r.participant for r in picked}, key=lambda p: (p != "server", p))
    methods = sorted({r.method for r in picked}, key=_method_rank)
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(participants) + 2), 4))
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
    ax.set_ylim(0, max(100.0, max(r.ci_high for r in picked) * 1.15))
    ax.set_title(f"{picked[0].task}: {metric} by method (95% CI)")
    ax.legend(fontsize=8, ncols=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_rounds(rows: list[ResultRow], metric: str, path: Path) -> Path | None:
    """Score after each round, one line per (method, participant)."""
    picked = [r for r in rows if r.metric == metric and r.round is not None]
    if not picked:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in sorted({(r.method, r.participant) for r in picked}):
        series = sorted((r for r in picked if (r.method, r.participant) == key), key=lambda r: r.round or 0)
        ax.plot([r.round for r in series], [r.value for r in series], marker="o", label=f"{key[0]} / {key[1]}")
    zero_shot = {(r.method, r.model): r.value for r in rows if r.metric == metric and r.method in ("LLM-ZS", "SLM-ZS")}
    for (method, model), value in sorted(zero_shot.items()):
        ax.axhline(value, linestyle="--", linewidth=1, color="grey")
        ax.annotate(f"{method} ({model})", (ax.get_xlim()[0], value), fontsize=7, color="grey", va="bottom")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{picked[0].task}: {metric} after each round (dashed: zero-shot)")
    ax.set_xlabel("round")
    ax.set_ylabel(f"{metric} (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
