"""In domain and out of domain: a domain federation's claims per domain, and each client's macro over its sets."""

from __future__ import annotations

import json

import pytest

from fedmkt.config import load_configs
from fedmkt.report.ablation import compare_runs, render_ablation
from fedmkt.report.claims import HELD, NOT_SIGNIFICANT, check_claims
from fedmkt.report.domain_claims import (
    ALL_DOMAINS,
    IN_DOMAIN,
    OUT_OF_DOMAIN,
    check_scopes,
    holdings,
    render_scopes,
    stratified_bootstrap,
)
from fedmkt.report.reproduce import Reproduction
from fedmkt.report.results import ResultRow, read_results
from fedmkt.report.run_section import load_experiment, render_experiment
from fedmkt.report.scores import ScoreIndex, ScoreRecord, scores_path
from fedmkt.report.table import render_report

N = 40
RIGHT, WRONG, HALF = [100.0] * N, [0.0] * N, [100.0, 0.0] * (N // 2)


def test_the_macro_difference_weighs_each_domain_alike_and_resamples_within_domains():
    small, large = ([100.0] * 10, [0.0] * 10), ([0.0] * 40, [0.0] * 40)  # +100 on 10 examples, 0 on 40
    found = stratified_bootstrap([small, large], n_resamples=500)
    assert found.estimate == pytest.approx(50.0)  # pooled, the 50 examples would say +20
    assert (found.low, found.high) == pytest.approx((50.0, 50.0))  # each domain's difference is constant
    assert (found.n, found.same) == (50, 40)
    noisy = stratified_bootstrap([(HALF, WRONG), (RIGHT, RIGHT)], n_resamples=2000, seed=1)
    assert noisy.estimate == pytest.approx(25.0) and noisy.low < 25.0 < noisy.high
    assert noisy == stratified_bootstrap([(HALF, WRONG), (RIGHT, RIGHT)], n_resamples=2000, seed=1)
    with pytest.raises(ValueError, match="one length"):
        stratified_bootstrap([(HALF, WRONG[:-1])])


def _row(method: str, participant: str, task: str, value: float, role: str = "slm") -> ResultRow:
    return ResultRow("heterogeneous", method, "m", role, participant, task, "acc", value, N, 0.0, 100.0,
                     2 if method.startswith("FedMKT") else None)


def _record(method: str, participant: str, task: str, scores: list[float]) -> ScoreRecord:
    return ScoreRecord(method, participant, "m", task, "acc", 2 if method.startswith("FedMKT") else None,
                       sum(scores) / N, [f"{task}/q{i}" for i in range(N)], scores, [""] * N)


def test_two_domains_scored_alike_are_tested_apart_and_a_client_gains_out_of_domain_only():
    """client-1 holds d1; FedMKT-SLM beats Standalone on d2 (out of its domain) and ties on d1."""
    scored = {("Standalone", "d1"): RIGHT, ("Standalone", "d2"): WRONG, ("FedMKT-SLM", "d1"): RIGHT,
              ("FedMKT-SLM", "d2"): RIGHT}
    rows = [_row(m, "client-1", d, sum(s) / N) for (m, d), s in scored.items()]
    index = ScoreIndex([_record(m, "client-1", d, s) for (m, d), s in scored.items()])
    per_domain = {c.task: c for c in check_claims(rows, index, n_resamples=500)}
    assert (per_domain["d1"].verdict, per_domain["d2"].verdict) == (NOT_SIGNIFICANT, HELD)  # not one merged pair
    found = {d.scope: d for d in check_scopes(rows, index, {"client-1": ["d1"]}, n_resamples=500)}
    assert set(found) == {IN_DOMAIN, OUT_OF_DOMAIN}
    assert (found[IN_DOMAIN].domains, found[IN_DOMAIN].estimate.estimate, found[IN_DOMAIN].verdict) == (
        ("d1",), 0.0, NOT_SIGNIFICANT)
    assert (found[OUT_OF_DOMAIN].domains, found[OUT_OF_DOMAIN].estimate.estimate, found[OUT_OF_DOMAIN].verdict) == (
        ("d2",), 100.0, HELD)
    assert check_scopes(rows, index, {}, n_resamples=100) == []  # one task: no scopes


def test_a_domain_run_is_scored_per_domain_with_files_tables_plots_and_scopes(tiny_domain_run):
    _, run_dir = tiny_domain_run
    config = load_configs(run_dir / "config.yaml")[0]
    rows = read_results(run_dir / "results.json")
    assert {r.task for r in rows} == {"tiny_qa", "sums", "tiny_gen"}
    for participant in ("server", "client-1", "client-2"):  # every participant on every domain, with its metric
        method = "FedMKT-LLM" if participant == "server" else "FedMKT-SLM"
        assert {(r.task, r.metric) for r in rows if r.participant == participant and r.method == method
                and r.metric in ("acc", "rougeL")} == {("tiny_qa", "acc"), ("sums", "acc"), ("tiny_gen", "rougeL")}
        record = json.loads(scores_path(run_dir, method, participant, 1, "sums").read_text())
        assert record["task"] == "sums" and len(record["uids"]) == 8 and all(u.startswith("sums/") for u in
                                                                                record["uids"])
    assert len(json.loads(scores_path(run_dir, "LLM-ZS", "server", None, "tiny_gen").read_text())["uids"]) == 6
    report = render_report(rows, "t")
    assert "## Client SLMs: sums, accuracy" in report and "## Server LLM: tiny_gen, Rouge-L" in report
    assert "## Client SLMs: macro average over 3 domains (sums accuracy, tiny_gen Rouge-L, tiny_qa accuracy;" in report
    assert {p.name for p in (run_dir / "plots").glob("methods_*_acc.png")} == {"methods_sums_acc.png",
                                                                              "methods_tiny_qa_acc.png"}
    assert holdings(config) == {"server": [], "client-1": ["tiny_qa"], "client-2": ["sums"]}
    scopes = check_scopes(rows, ScoreIndex.load(run_dir), holdings(config), n_resamples=200)
    by = {(d.label[:3], d.participant, d.scope): d.domains for d in scopes}
    assert by[("(a)", "client-1", IN_DOMAIN)] == ("tiny_qa",)
    assert by[("(a)", "client-1", OUT_OF_DOMAIN)] == ("sums", "tiny_gen")  # tiny_gen: no client holds it
    assert by[("(c)", "server", ALL_DOMAINS)] == ("sums", "tiny_gen", "tiny_qa")
    section = render_experiment(load_experiment(run_dir), [], Reproduction("fedmkt run x"), run_dir, n_resamples=200)
    assert "### In domain and out of domain" in section and "(client-1: tiny_qa; client-2: sums)" in section
    assert render_scopes(scopes).splitlines()[0].startswith("| Claim | Participant | Scope | Domains |")


def test_a_domain_run_compared_with_itself_differs_nowhere_per_domain_and_per_scope(tiny_domain_run):
    _, run_dir = tiny_domain_run
    differences = compare_runs(run_dir, [run_dir], n_resamples=200)
    scoped = {(d.method, d.participant, d.task) for d in differences if d.metric == "macro"}
    assert ("FedMKT-SLM", "client-2", "out-of-domain: tiny_qa, tiny_gen") in scoped
    assert ("FedMKT-LLM", "server", "all domains: tiny_qa, sums, tiny_gen") in scoped
    assert {d.task for d in differences if d.method == "Standalone" and d.participant == "client-1"
            and d.metric != "macro"} == {"tiny_qa", "sums", "tiny_gen"}
    assert all(d.estimate == 0.0 and d.same == d.n for d in differences)
    assert "| Run | Method | Participant | Domain | Metric |" in render_ablation("ref", differences)
