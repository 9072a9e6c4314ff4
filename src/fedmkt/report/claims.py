"""The paper's claims (sections 4.2-4.4), each tested with a paired bootstrap on one run's eval set.

Two methods are scored on the same eval examples, so their difference is tested on pairs:
resampling examples (uids) with replacement and taking the mean difference of each resample
removes the variation between questions that two separate intervals would count twice. A claim
"A beats B" is

- **held** when the difference is positive and its 95% interval excludes 0,
- **not held** when it is negative and its interval excludes 0,
- **not significant** when the interval contains 0.

The "reaches 90-96% of Centralized-LLM" claim is tested the same way on the ratio of the two
means against 0.90 (the paper's lower figure; above 0.96 is better than claimed, not a miss).
Methods with rounds are compared on their final round's scores. Only the main metric (accuracy,
or Rouge-L for generation) has per-example scores, so acc_norm and acc_pmi are not tested. In a
domain federation each pair is tested on each domain's eval set (``task``); ``report.domain_claims``
adds each client's in-domain and out-of-domain macro differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fedmkt.report.markdown import markdown_table
from fedmkt.report.results import ResultRow
from fedmkt.report.scores import ScoreIndex, ScoreRecord
from fedmkt.report.table import MAIN_METRICS, _final_rows

HELD, NOT_HELD, NOT_SIGNIFICANT = "held", "not held", "not significant"
NO_SCORES = "no per-example scores"
VERDICTS = (HELD, NOT_HELD, NOT_SIGNIFICANT, NO_SCORES)
RATIO_TARGET = 0.90
__all__ = ["MAIN_METRICS"]  # re-exported: ablations take the same metrics


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: ``method`` beats ``baseline`` (or reaches ``RATIO_TARGET`` of it)."""

    id: str
    statement: str
    pairs: tuple[tuple[str, str], ...]  # (method, baseline): any of them present in a run is tested
    role: Literal["slm", "llm"]
    kind: Literal["difference", "ratio"] = "difference"


CLAIMS: tuple[Claim, ...] = (
    Claim("a", "FedMKT-SLM beats Standalone, each client",
          (("FedMKT-SLM", "Standalone"), ("FedMKT-SLM-FedAvg", "Standalone")), "slm"),
    Claim("b", "FedMKT-SLM beats SLM-ZS, each client",
          (("FedMKT-SLM", "SLM-ZS"), ("FedMKT-SLM-FedAvg", "SLM-ZS")), "slm"),
    Claim("c", "FedMKT-LLM beats LLM-ZS",
          (("FedMKT-LLM", "LLM-ZS"), ("FedMKT-LLM-FedAvg", "LLM-ZS")), "llm"),
    Claim("d", "FedMKT-LLM reaches 90-96% of Centralized-LLM",
          (("FedMKT-LLM", "Centralized-LLM"), ("FedMKT-LLM-FedAvg", "Centralized-LLM")), "llm", "ratio"),
    Claim("e", "homogeneous: FedMKT-SLM-FedAvg beats FedAvg, each client", (("FedMKT-SLM-FedAvg", "FedAvg"),), "slm"),
    Claim("f", "one-to-one: FedMKT-SLM beats LLM2SLM", (("FedMKT-SLM", "LLM2SLM"),), "slm"),
)


@dataclass(frozen=True)
class Comparison:
    """One tested pair: ``method`` against ``baseline`` for one participant.

    ``estimate`` and its interval are the paired difference of means in points (``kind``
    "difference") or the ratio of means (``kind`` "ratio"); NaN where no per-example scores
    were found (``verdict`` is then ``NO_SCORES`` and ``n`` 0). ``same`` counts the examples
    both score alike: two methods can tie on the mean yet differ on many examples, or agree on all.
    """

    claim: str
    statement: str
    kind: str
    method: str
    baseline: str
    participant: str
    metric: str
    round: int | None
    value: float
    baseline_value: float
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    verdict: str
    same: int = 0  # examples on which both score the same (for accuracy: both right or both wrong)
    task: str = ""  # the eval set's task (a domain of a domain federation)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, statistic: Literal["difference", "ratio"] = "difference",
    n_resamples: int = 10_000, level: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """``(estimate, low, high)`` of mean(a) - mean(b) (or mean(a) / mean(b)) over paired examples.

    ``a[i]`` and ``b[i]`` score the same example; each resample draws example indices with
    replacement and applies them to both. Percentile interval; deterministic for ``seed``.
    Resamples whose ``b`` mean is 0 give no ratio and are left out of its interval.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired scores need two non-empty lists of one length, got {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    n = x.size
    stats = np.empty(n_resamples)
    chunk = max(1, (1 << 22) // n)  # about 4M indices in memory at a time
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        ma, mb = x[idx].mean(axis=1), y[idx].mean(axis=1)
        if statistic == "ratio":
            with np.errstate(divide="ignore", invalid="ignore"):
                stats[start:start + len(idx)] = np.where(mb > 0, ma / mb, np.nan)
        else:
            stats[start:start + len(idx)] = ma - mb
    if statistic == "ratio":
        estimate = x.mean() / y.mean() if y.mean() > 0 else float("nan")
    else:
        estimate = x.mean() - y.mean()
    tail = 100.0 * (1.0 - level) / 2.0
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return float(estimate), float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(estimate), float(low), float(high)


def verdict(estimate: float, low: float, high: float, null: float = 0.0) -> str:
    """``held`` / ``not held`` when the interval excludes ``null`` on that side, else ``not significant``."""
    if estimate > null and low > null:
        return HELD
    if estimate < null and high < null:
        return NOT_HELD
    return NOT_SIGNIFICANT


def paired_scores(a: ScoreRecord, b: ScoreRecord) -> tuple[list[float], list[float]]:
    """The two scorings' scores on the uids both hold, in ``a``'s order."""
    theirs = dict(zip(b.uids, b.scores, strict=True))
    common = [(s, theirs[u]) for u, s in zip(a.uids, a.scores, strict=True) if u in theirs]
    return [s for s, _ in common], [t for _, t in common]


@dataclass(frozen=True)
class PairedEstimate:
    """One scoring against another on the examples both hold: bootstrap estimate, interval and ties."""

    n: int
    estimate: float
    low: float
    high: float
    same: int  # examples scored the same by both (for accuracy: both right or both wrong)


def paired_estimate(
    a: ScoreRecord, b: ScoreRecord, *, statistic: Literal["difference", "ratio"] = "difference",
    n_resamples: int, seed: int,
) -> PairedEstimate | None:
    """``a`` against ``b`` paired per example; None when they share no example."""
    x, y = paired_scores(a, b)
    if not x:
        return None
    estimate, low, high = paired_bootstrap(x, y, statistic=statistic, n_resamples=n_resamples, seed=seed)
    same = int(np.sum(np.asarray(x) == np.asarray(y)))
    return PairedEstimate(len(x), estimate, low, high, same)


def compare(
    claim: Claim, method: ResultRow, baseline: ResultRow, scores: ScoreIndex, *, n_resamples: int, seed: int,
) -> Comparison:
    """Test ``claim`` on one pair of final-round rows of one participant."""
    ours, theirs = scores.for_row(method), scores.for_row(baseline)
    paired = (paired_estimate(ours, theirs, statistic=claim.kind, n_resamples=n_resamples, seed=seed)
              if ours is not None and theirs is not None else None)
    if paired is None:
        nan = float("nan")
        paired, outcome = PairedEstimate(0, nan, nan, nan, 0), NO_SCORES
    elif np.isfinite([paired.estimate, paired.low, paired.high]).all():
        null = RATIO_TARGET if claim.kind == "ratio" else 0.0
        outcome = verdict(paired.estimate, paired.low, paired.high, null)
    else:
        outcome = NOT_SIGNIFICANT
    return Comparison(claim=claim.id, statement=claim.statement, kind=claim.kind, method=method.method,
                      baseline=baseline.method, participant=method.participant, metric=method.metric,
                      round=method.round, value=method.value, baseline_value=baseline.value, n=paired.n,
                      estimate=paired.estimate, ci_low=paired.low, ci_high=paired.high, verdict=outcome,
                      same=paired.same, task=method.task)


def check_claims(
    rows: list[ResultRow], scores: ScoreIndex, *, n_resamples: int = 10_000, seed: int = 0,
    claims: Sequence[Claim] = CLAIMS,
) -> list[Comparison]:
    """Every claim whose methods the run has, per participant (and domain), on the main metric's final round.

    The server's claims compare the server's rows; the clients' claims pair each client's rows.
    """
    final = {(r.method, r.participant, r.task, r.metric): r for r in _final_rows(rows) if r.metric in MAIN_METRICS}
    out: list[Comparison] = []
    for claim in claims:
        for method, baseline in claim.pairs:
            for (m, participant, task, metric), row in sorted(final.items()):
                other = final.get((baseline, participant, task, metric))
                if m == method and row.role == claim.role and other is not None:
                    out.append(compare(claim, row, other, scores, n_resamples=n_resamples, seed=seed))
    return out


def _estimate_cell(c: Comparison) -> str:
    if c.verdict == NO_SCORES:
        return "-"
    if c.kind == "ratio":
        return f"{100 * c.estimate:.1f}% [{100 * c.ci_low:.1f}, {100 * c.ci_high:.1f}]"
    return f"{c.estimate:+.1f} [{c.ci_low:+.1f}, {c.ci_high:+.1f}]"


def render_claims(comparisons: list[Comparison]) -> str:
    """Markdown: one line per tested pair with both scores, the paired estimate and the verdict."""
    if not comparisons:
        return ""
    domains = len({c.task for c in comparisons}) > 1  # a domain federation: name each pair's domain
    rows = []
    for c in comparisons:
        rnd = f" (round {c.round})" if c.round is not None else ""
        rows.append((f"({c.claim}) {c.statement}", c.participant, *((c.task,) if domains else ()),
                     f"{c.method}{rnd}", c.baseline, f"{c.value:.1f}", f"{c.baseline_value:.1f}", _estimate_cell(c),
                     c.n, c.same if c.n else "-", f"**{c.verdict}**"))
    header = ["Claim", "Participant", *(("Domain",) if domains else ()), "Method", "Baseline", "Method score",
              "Baseline score", "Difference or ratio [95% CI]", "n", "Same score", "Verdict"]
    return markdown_table(header, rows, "ll" + "l" * domains + "llrrrrrl")


def summarize(comparisons: list[Comparison]) -> str:
    """One cell for a claim in one run: ``held`` if every pair held, else the count of each verdict."""
    counts = {v: sum(c.verdict == v for c in comparisons) for v in VERDICTS}
    present = {v: k for v, k in counts.items() if k}
    if len(present) == 1:
        (only, k), = present.items()
        return only if k == 1 else f"{only} ({k}/{k})"
    return ", ".join(f"{v} {k}" for v, k in present.items())


def render_summary(per_run: dict[str, list[Comparison]], claims: Sequence[Claim] = CLAIMS) -> str:
    """Markdown: claim x run -> verdict (``-`` where a run has not the methods the claim needs)."""
    runs = list(per_run)
    rows = []
    for claim in claims:
        cells = []
        for run in runs:
            tested = [c for c in per_run[run] if c.claim == claim.id]
            cells.append(summarize(tested) if tested else "-")
        rows.append((f"({claim.id}) {claim.statement}", *cells))
    return markdown_table(["Claim", *runs], rows, "l" * (len(runs) + 1))
