"""Paired-bootstrap verdicts on constructed score lists, and the paper's claims checked on rows + scores."""

import math
import random

import numpy as np
import pytest

from fedmkt.evaluation.bootstrap import bootstrap_ci
from fedmkt.report.claims import (
    CLAIMS,
    HELD,
    NO_SCORES,
    NOT_HELD,
    NOT_SIGNIFICANT,
    check_claims,
    paired_bootstrap,
    paired_estimate,
    render_claims,
    render_summary,
    verdict,
)
from fedmkt.report.results import ResultRow
from fedmkt.report.scores import ScoreIndex, ScoreRecord

N = 60
WIN = [100.0] * 50 + [0.0] * 10  # right on 50 of 60 questions
LOSS = [100.0] * 10 + [0.0] * 50  # right on 10 of them (a subset of WIN's)


def _test(a, b, **kwargs):
    estimate, low, high = paired_bootstrap(a, b, n_resamples=2000, seed=0, **kwargs)
    return estimate, low, high, verdict(estimate, low, high, 0.9 if kwargs.get("statistic") == "ratio" else 0.0)


def test_a_clear_win_is_held_and_a_clear_loss_is_not_held():
    estimate, low, high, outcome = _test(WIN, LOSS)
    assert estimate == pytest.approx(100 * 40 / N) and 0 < low < estimate < high
    assert outcome == HELD
    estimate, low, high, outcome = _test(LOSS, WIN)
    assert estimate == pytest.approx(-100 * 40 / N) and low < estimate < high < 0
    assert outcome == NOT_HELD


def test_identical_scores_are_not_significant():
    estimate, low, high, outcome = _test(WIN, WIN)
    assert (estimate, low, high) == (0.0, 0.0, 0.0)
    assert outcome == NOT_SIGNIFICANT


def test_a_small_difference_on_few_examples_is_not_significant():
    a = [100.0, 0.0, 100.0, 0.0, 100.0, 0.0, 100.0, 0.0]
    b = [0.0, 100.0, 100.0, 0.0, 100.0, 0.0, 0.0, 0.0]  # one more right answer in a, on 8 questions
    estimate, low, high, outcome = _test(a, b)
    assert estimate == pytest.approx(12.5) and low <= 0 <= high
    assert outcome == NOT_SIGNIFICANT


def test_pairing_removes_the_between_question_spread_that_two_intervals_count_twice():
    """b = a minus one right answer per 20 questions: separate intervals overlap, the paired one excludes 0."""
    rng = random.Random(0)
    a = [100.0 if rng.random() < 0.5 else 0.0 for _ in range(400)]
    b = list(a)
    right = [i for i, s in enumerate(a) if s == 100.0]
    for i in right[::10]:
        b[i] = 0.0
    a_low, a_high = bootstrap_ci(a, n_resamples=2000, seed=0)
    b_low, b_high = bootstrap_ci(b, n_resamples=2000, seed=0)
    assert a_low < b_high  # read side by side, the two intervals overlap ...
    _, low, high, outcome = _test(a, b)
    assert outcome == HELD and low > 0  # ... yet on the same questions a is better


def test_the_ratio_is_tested_against_ninety_percent():
    same = _test(WIN, WIN, statistic="ratio")
    assert same[:3] == (1.0, 1.0, 1.0) and same[3] == HELD
    half = _test([100.0] * 25 + [0.0] * 35, WIN, statistic="ratio")
    assert half[0] == pytest.approx(0.5) and half[2] < 0.9 and half[3] == NOT_HELD


def test_the_paired_interval_covers_the_true_difference_95_percent_of_the_time():
    """The level itself, against a known distribution: 3000 paired samples of 100 examples.

    ``a`` is right with probability 0.6 and ``b`` with 0.7 where ``a`` is right, 0.2 elsewhere,
    so mean(a) - mean(b) is 0.6 - 0.5 = 0.1. Seeded: 94.5% here (s.e. 0.4 points), where a 90%
    interval covers 89.5% and a 93% one 92.3%.
    """
    rng = np.random.default_rng(0)
    trials, n = 3000, 100
    covered = 0
    for trial in range(trials):
        a = (rng.random(n) < 0.6).astype(float)
        b = (rng.random(n) < np.where(a > 0, 0.7, 0.2)).astype(float)
        _, low, high = paired_bootstrap(a, b, n_resamples=400, seed=trial)
        covered += low <= 0.1 <= high
    assert 0.935 <= covered / trials <= 0.965, f"coverage {covered / trials:.3f}"


def test_the_bootstrap_is_deterministic_for_a_seed_and_refuses_unpaired_lists():
    assert paired_bootstrap(WIN, LOSS, seed=3) == paired_bootstrap(WIN, LOSS, seed=3)
    with pytest.raises(ValueError, match="one length"):
        paired_bootstrap(WIN, LOSS[:-1])


def _row(method, participant, value, round_=None, role="slm"):
    return ResultRow("homogeneous", method, "m", role, participant, "t", "acc", value, N, 0.0, 100.0, round_)


def _record(method, participant, scores, round_=None, order=None):
    uids = [f"q{i}" for i in range(N)]
    pairs = list(zip(uids, scores, strict=True))
    if order is not None:
        random.Random(order).shuffle(pairs)
    return ScoreRecord(method, participant, "m", "t", "acc", round_, sum(scores) / N, [u for u, _ in pairs],
                       [s for _, s in pairs], [""] * N)


def test_claims_compare_the_final_round_pair_examples_by_uid_and_flag_missing_scores():
    rows = [_row("Standalone", "client-1", 100 * 10 / N), _row("Standalone", "client-2", 100 * 10 / N),
            _row("FedMKT-SLM", "client-1", 100 * 10 / N, 1), _row("FedMKT-SLM", "client-1", 100 * 50 / N, 2),
            _row("FedMKT-SLM", "client-2", 100 * 50 / N, 2),
            _row("LLM-ZS", "server", 100 * 50 / N, role="llm"), _row("FedMKT-LLM", "server", 100 * 10 / N, 2, "llm")]
    index = ScoreIndex([
        _record("Standalone", "client-1", LOSS, order=1),  # stored in another order: paired by uid
        _record("FedMKT-SLM", "client-1", LOSS, 1), _record("FedMKT-SLM", "client-1", WIN, 2),
        _record("LLM-ZS", "server", WIN), _record("FedMKT-LLM", "server", LOSS, 2),
        _record("FedMKT-SLM", "client-2", WIN, 2),  # client-2's Standalone scores are missing
    ])
    found = {(c.claim, c.participant): c for c in check_claims(rows, index, n_resamples=2000)}
    assert set(found) == {("a", "client-1"), ("a", "client-2"), ("c", "server")}
    first = found[("a", "client-1")]
    assert (first.round, first.n, first.verdict) == (2, N, HELD)
    assert first.same == 20  # both right on 10 questions, both wrong on 10
    assert first.estimate == pytest.approx(100 * 40 / N)
    assert found[("c", "server")].verdict == NOT_HELD
    missing = found[("a", "client-2")]
    assert missing.verdict == NO_SCORES and missing.n == 0 and math.isnan(missing.estimate)
    table = render_claims(list(found.values()))
    assert "| (a) FedMKT-SLM beats Standalone, each client | client-1 | FedMKT-SLM (round 2) | Standalone |" in table
    assert "**held**" in table and "**not held**" in table and "**no per-example scores**" in table
    assert f"| {N} | 20 | **held** |" in table and "| 0 | - | **no per-example scores** |" in table


def test_the_summary_has_a_row_per_claim_and_a_column_per_run():
    rows = [_row("Standalone", "client-1", 100 * 10 / N), _row("FedMKT-SLM", "client-1", 100 * 50 / N, 2)]
    index = ScoreIndex([_record("Standalone", "client-1", LOSS), _record("FedMKT-SLM", "client-1", WIN, 2)])
    won = check_claims(rows, index, n_resamples=500)
    tied_rows = [_row("Standalone", "client-1", 100 * 50 / N), _row("FedMKT-SLM", "client-1", 100 * 50 / N, 2)]
    tied = check_claims(tied_rows, ScoreIndex([_record("Standalone", "client-1", WIN),
                                          _record("FedMKT-SLM", "client-1", WIN, 2)]), n_resamples=500)
    summary = render_summary({"run-1": won, "run-2": tied, "run-3": won + tied}).splitlines()
    assert summary[0] == "| Claim | run-1 | run-2 | run-3 |"
    assert len(summary) == 2 + len(CLAIMS)
    assert summary[2] == ("| (a) FedMKT-SLM beats Standalone, each client | held | not significant | "
                          "held 1, not significant 1 |")
    assert summary[3].endswith("| - | - | - |")  # (b): no SLM-ZS rows


def test_paired_estimate_uses_only_shared_examples_and_counts_ties():
    a = ScoreRecord("A", "p", "m", "t", "acc", None, 0.0, ["q1", "q2", "q3", "q4"], [100.0, 0.0, 100.0, 100.0],
                    [""] * 4)
    b = ScoreRecord("B", "p", "m", "t", "acc", None, 0.0, ["q4", "q3", "q2", "q9"], [0.0, 100.0, 0.0, 100.0],
                    [""] * 4)
    paired = paired_estimate(a, b, n_resamples=200, seed=0)
    assert paired is not None
    assert paired.n == 3  # q2, q3, q4; q1 and q9 have no partner
    assert paired.same == 2  # q2 (both wrong) and q3 (both right)
    assert paired.estimate == pytest.approx(100.0 / 3)
    assert paired.low <= paired.estimate <= paired.high
    disjoint = ScoreRecord("C", "p", "m", "t", "acc", None, 0.0, ["z"], [0.0], [""])
    assert paired_estimate(a, disjoint, n_resamples=200, seed=0) is None
