"""Scoring on the eval set: one bar and one logged event; the rows and the per-example score file."""

from __future__ import annotations

from contextlib import contextmanager

from fedmkt.config import load_preset
from fedmkt.data.tasks import get_task
from fedmkt.evaluation.evaluate import EvalResult
from fedmkt.report.scores import read_scores, scores_path
from fedmkt.setup.models import load_model
from fedmkt.setup.scoring import evaluate_examples, record_scores

CONFIG = load_preset("tiny")[0]
SPEC = CONFIG.clients[1]


def test_evaluate_examples_opens_one_bar_and_logs_the_score():
    model, tokenizer = load_model(SPEC, dtype="float32", device="cpu", seed=0)
    examples = get_task("tiny_qa").load("train")[:6]
    bars, advanced, events = [], [], []

    @contextmanager
    def tasks(description, total):
        bars.append((description, total))
        yield lambda advance=1, **f: advanced.append(advance)

    result = evaluate_examples(model, tokenizer, examples, CONFIG.eval, seed=0, phase="SLM-ZS/client-2",
                               write_event=lambda e, **f: events.append((e, f)), progress=tasks)
    assert bars == [("eval  SLM-ZS/client-2", 6)] and sum(advanced) == 6
    assert result.n == 6 and result.uids == [ex.uid for ex in examples]
    (event, fields), = events
    assert event == "eval" and fields["phase"] == "SLM-ZS/client-2" and fields["value"] == result.value
    assert fields["acc_norm"] == result.extra["acc_norm"]


def test_record_scores_writes_the_score_file_and_one_row_per_metric(tmp_path):
    result = EvalResult("acc", 50.0, 2, 0.0, 100.0, extra={"acc_norm": 100.0, "acc_norm_ci_low": 100.0,
                                                            "acc_norm_ci_high": 100.0},
                        scores=[100.0, 0.0], predictions=["a", "b"], uids=["u1", "u2"])
    rows = record_scores(tmp_path, result, SPEC, role="slm", method="FedMKT-SLM", scenario="heterogeneous",
                         task="tiny_qa", round_=2)
    assert [(r.metric, r.value) for r in rows] == [("acc", 50.0), ("acc_norm", 100.0)]
    assert {(r.participant, r.model, r.role, r.method, r.scenario, r.task, r.round, r.n) for r in rows} == {
        (SPEC.name, SPEC.model, "slm", "FedMKT-SLM", "heterogeneous", "tiny_qa", 2, 2)}
    saved = read_scores(scores_path(tmp_path, "FedMKT-SLM", SPEC.name, 2))
    assert (saved.uids, saved.scores, saved.metric) == (["u1", "u2"], [100.0, 0.0], "acc")
