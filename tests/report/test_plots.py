"""Plots readable at a glance: whole-number round ticks, the legend beside the axes, nothing cut off."""

import pytest

from fedmkt.report.plots import methods_figure, plot_rounds, rounds_figure
from fedmkt.report.results import ResultRow

METHODS = ["FedAvg", "FedMKT-SLM", "FedMKT-SLM-FedAvg"]
CLIENTS = ["client-1", "client-2", "client-3"]


def _row(method, participant, value, round_=None, model=None):
    role = "llm" if participant == "server" else "slm"
    return ResultRow("homogeneous", method, model or f"m-{role}", role, participant, "arc_easy", "acc", value, 200,
                     value - 6, value + 6, round_)


def _eleven_series(rounds):
    """The homogeneous scenario's per-round plot: 9 client series, 2 server series, 2 zero-shot lines."""
    rows = [_row("SLM-ZS", c, 52.0) for c in CLIENTS] + [_row("LLM-ZS", "server", 59.5)]
    for r in rounds:
        rows += [_row(m, c, 55 + i + j + r, r) for i, m in enumerate(METHODS) for j, c in enumerate(CLIENTS)]
        rows += [_row(m, "server", 56 + r + i, r) for i, m in enumerate(["FedMKT-LLM", "FedMKT-LLM-FedAvg"])]
    return rows


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


@pytest.mark.parametrize("rounds", [[1], [1, 2, 3], list(range(1, 41))])
def test_round_ticks_are_whole_numbers_within_the_rounds(rounds):
    fig = rounds_figure(_eleven_series(rounds), "acc")
    _drawn(fig)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks)
    if len(rounds) <= 3:
        assert ticks == rounds


@pytest.mark.parametrize("build", [rounds_figure, methods_figure], ids=["rounds", "methods"])
def test_the_legend_stands_beside_the_axes_and_no_text_is_cut_off(build):
    fig = build(_eleven_series([1, 2, 3]), "acc")
    renderer = _drawn(fig)
    ax, (legend,) = fig.axes[0], fig.legends
    assert len(legend.get_texts()) == (13 if build is rounds_figure else 7)
    axes_box, legend_box = ax.get_window_extent(renderer), legend.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # right of the axes: over no line or bar
    drawn = ax.get_tightbbox(renderer)  # the axes with its title, labels and the tick labels it draws
    for box in (drawn, legend_box):
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1


def test_each_series_has_its_own_colour_and_marker_pair():
    fig = rounds_figure(_eleven_series([1, 2]), "acc")
    lines = [line for line in fig.axes[0].get_lines() if "zero-shot" not in line.get_label()]
    assert len(lines) == 11
    assert len({(str(line.get_color()), line.get_marker()) for line in lines}) == 11
    zero_shot = [line for line in fig.axes[0].get_lines() if "zero-shot" in line.get_label()]
    assert {line.get_label() for line in zero_shot} == {"LLM-ZS (m-llm), zero-shot", "SLM-ZS (m-slm), zero-shot"}
    assert len({str(line.get_linestyle()) for line in zero_shot}) == 2


def test_a_plot_is_written_as_png(tmp_path):
    path = plot_rounds(_eleven_series([1]), "acc", tmp_path / "plots" / "rounds.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rounds_figure(_eleven_series([1]), "rougeL") is None
