"""Paper-style tables and plots from result rows."""

from fedmkt.report.plots import plot_methods, plot_rounds
from fedmkt.report.results import ResultRow, read_results, write_results
from fedmkt.report.table import render_report, render_table


def _row(method, participant, role, value, metric="acc", round_=None):
    return ResultRow("heterogeneous", method, "m-" + participant, role, participant, "arc_easy", metric,
                     value, 100, value - 5, value + 5, round_)


ROWS = [
    _row("SLM-ZS", "client-1", "slm", 40.0),
    _row("SLM-ZS", "client-2", "slm", 41.0),
    _row("Standalone", "client-1", "slm", 45.0),
    _row("LLM-ZS", "server", "llm", 50.0),
    _row("FedMKT-LLM", "server", "llm", 52.0, round_=1),
    _row("FedMKT-LLM", "server", "llm", 57.5, round_=2),
    _row("LLM-ZS", "server", "llm", 49.0, metric="acc_norm"),
]


def test_slm_table_has_a_column_per_client_and_paper_method_order():
    table = render_table(ROWS, "slm", "acc").splitlines()
    assert table[0] == "| Method | client-1 (m-client-1) | client-2 (m-client-2) |"
    assert table[2] == "| SLM-ZS | 40.0 [35.0, 45.0] | 41.0 [36.0, 46.0] |"
    assert table[3] == "| Standalone | 45.0 [40.0, 50.0] | - |"


def test_llm_table_shows_the_last_round():
    table = render_table(ROWS, "llm", "acc")
    assert "| FedMKT-LLM | 57.5 [52.5, 62.5] |" in table
    assert "52.0" not in table


def test_report_has_every_table_and_notes():
    report = render_report(ROWS, "demo", notes=["wall time: 3 s"])
    assert report.count("## ") == 3  # slm acc, llm acc, llm acc_norm
    assert "- wall time: 3 s" in report


def test_results_json_round_trip_and_plots(tmp_path):
    write_results(ROWS, tmp_path / "results.json")
    assert read_results(tmp_path / "results.json") == ROWS
    bars = plot_methods(ROWS, "acc", tmp_path / "plots" / "methods.png")
    curve = plot_rounds(ROWS, "acc", tmp_path / "plots" / "rounds.png")
    for path in (bars, curve):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_rounds(ROWS, "rougeL", tmp_path / "none.png") is None
