"""A run folder's plots/, written from its results (the Flower run's folder gets them from results.json)."""

from __future__ import annotations

from fedmkt.report.results import ResultRow, write_results
from fedmkt.report.run_plots import plots_from_results, write_run_plots


def _row(method: str, participant: str, metric: str, value: float, round_: int | None = None) -> ResultRow:
    return ResultRow("heterogeneous", method, "tiny-gpt2-bpe", "slm", participant, "tiny_qa", metric, value, 64,
                     value - 5, value + 5, round_)


def test_each_metric_gets_a_methods_plot_and_a_rounds_plot_when_it_has_rounds(tmp_path):
    rows = [_row("SLM-ZS", "client-1", "acc", 25.0), _row("FedMKT-SLM", "client-1", "acc", 30.0, 1),
            _row("FedMKT-SLM", "client-1", "acc", 35.0, 2), _row("SLM-ZS", "client-1", "acc_norm", 20.0)]
    written = write_run_plots(rows, tmp_path)
    assert sorted(p.name for p in written) == ["methods_acc.png", "methods_acc_norm.png", "rounds_acc.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.parent == tmp_path / "plots" for p in written)


def test_plots_from_a_run_folders_results_json(tmp_path):
    write_results([_row("FedMKT-SLM", "client-1", "acc", 30.0, 1)], tmp_path / "results.json")
    assert [p.name for p in plots_from_results(tmp_path)] == ["methods_acc.png", "rounds_acc.png"]


def test_a_domain_federation_gets_each_domains_figures_named_after_it(tmp_path):
    """Two domains scored by accuracy: one figure each, not one figure mixing both domains' bars."""
    from dataclasses import replace

    rows = [_row("SLM-ZS", "client-1", "acc", 25.0), _row("FedMKT-SLM", "client-1", "acc", 30.0, 1)]
    rows += [replace(r, task="arc_easy", value=r.value + 20, ci_low=r.ci_low + 20, ci_high=r.ci_high + 20)
             for r in rows]
    written = write_run_plots(rows, tmp_path)
    assert sorted(p.name for p in written) == ["methods_arc_easy_acc.png", "methods_tiny_qa_acc.png",
                                               "rounds_arc_easy_acc.png", "rounds_tiny_qa_acc.png"]
