"""Per-example scores: written by every scoring of a run, agreeing with results.json, found for copied rows."""

import json

import pytest

from fedmkt.report.results import ResultRow, read_results
from fedmkt.report.scores import ScoreIndex, ScoreRecord, read_scores, scores_path, write_scores


def test_every_scored_row_has_per_example_scores_that_agree_with_results_json(tiny_run):
    _, run_dir = tiny_run
    rows = [r for r in read_results(run_dir / "results.json") if r.metric == "acc"]
    index = ScoreIndex.load(run_dir)
    eval_uids = None
    for row in rows:
        record = index.for_row(row)
        assert record is not None, (row.method, row.participant, row.round)
        assert record.n == row.n == len(record.uids) == len(record.predictions)
        assert sum(record.scores) / record.n == pytest.approx(row.value, abs=1e-9)
        assert set(record.scores) <= {0.0, 100.0}
        eval_uids = eval_uids or set(record.uids)
        assert set(record.uids) == eval_uids  # every method scored the same eval examples
    # each round of a method with rounds has its own file; methods without rounds have one
    for method, participant, round_ in [("Standalone", "client-2", None), ("LLM-ZS", "server", None),
                                        ("FedAvg", "client-1", 1), ("FedAvg", "client-1", 2),
                                        ("FedMKT-LLM-FedAvg", "server", 2)]:
        path = scores_path(run_dir, method, participant, round_)
        assert path.is_file(), path
        assert read_scores(path).round == round_


def test_rows_copied_from_another_clients_scoring_find_that_scoring(tiny_run):
    """Clients sharing a model share SLM-ZS; FedAvg clients hold one adapter: only client-1 is scored."""
    _, run_dir = tiny_run
    rows = read_results(run_dir / "results.json")
    index = ScoreIndex.load(run_dir)
    for method, round_ in [("SLM-ZS", None), ("FedAvg", 2), ("FedMKT-SLM-FedAvg", 2)]:
        assert not scores_path(run_dir, method, "client-2", round_).exists()
        (row,) = [r for r in rows if (r.method, r.participant, r.round, r.metric) == (method, "client-2", round_,
                                                                                      "acc")]
        assert index.for_row(row).participant == "client-1"


def _row(value: float, **changes) -> ResultRow:
    base = dict(scenario="s", method="Standalone", model="m", role="slm", participant="client-1", task="t",
                metric="acc", value=value, n=4, ci_low=0.0, ci_high=100.0, round=None)
    return ResultRow(**{**base, **changes})


def test_a_redone_step_overwrites_its_file_and_a_stale_file_is_never_paired(tmp_path):
    common = dict(method="Standalone", participant="client-1", model="m", task="t", metric="acc", round_=None,
                  uids=["u1", "u2", "u3", "u4"], predictions=["a", "b", "c", "d"])
    write_scores(tmp_path, value=25.0, scores=[100, 0, 0, 0], **common)
    path = write_scores(tmp_path, value=50.0, scores=[100, 100, 0, 0], **common)  # the step, redone
    assert path == tmp_path / "scores" / "Standalone" / "client-1.json"
    assert json.loads(path.read_text())["scores"] == [100.0, 100.0, 0.0, 0.0]
    assert not list(tmp_path.rglob("*.tmp"))
    index = ScoreIndex.load(tmp_path)
    assert index.for_row(_row(50.0)).value == 50.0
    assert index.for_row(_row(25.0)) is None  # the file does not hold this row's scores
    assert index.for_row(_row(50.0, participant="client-2", model="other")) is None


def test_unequal_per_example_lists_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3 uids, 2 scores"):
        write_scores(tmp_path, method="m", participant="p", model="x", task="t", metric="acc", round_=1, value=0.0,
                     uids=["a", "b", "c"], scores=[0, 100], predictions=["x", "y", "z"])


def test_participant_names_become_safe_path_components(tmp_path):
    path = scores_path(tmp_path, "FedMKT-SLM", "../hospital a", 3)
    assert path == tmp_path / "scores" / "FedMKT-SLM" / ".._hospital_a" / "round-3.json"
    assert ScoreRecord("m", "p", "x", "t", "acc", None, 50.0, ["a", "b"], [0.0, 100.0], ["", ""]).n == 2
    assert scores_path(tmp_path, "m", "..", None) == tmp_path / "scores" / "m" / "_...json"
