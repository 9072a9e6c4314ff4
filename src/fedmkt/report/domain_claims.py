"""In-domain and out-of-domain: what a domain federation's clients gained where they hold data, and where not.

A client's in-domain set is the domains its private data comes from; its out-of-domain set, the
others: what it can only learn through the transfer. Each pair of scorings (two methods in one run,
or one method in two runs) is compared on each domain's eval set, paired per example, and the
domains of a set are averaged with equal weight (the macro difference, as the tables' macro
average). Its 95% interval is a stratified paired bootstrap: each resample redraws every domain's
examples within that domain. The server holds no private data: its set is every domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedmkt.config import ExperimentConfig
from fedmkt.report.claims import CLAIMS, Claim, PairedEstimate, paired_scores, verdict
from fedmkt.report.markdown import markdown_table
from fedmkt.report.results import ResultRow
from fedmkt.report.scores import ScoreIndex, ScoreRecord
from fedmkt.report.table import MAIN_METRICS, _final_rows

IN_DOMAIN, OUT_OF_DOMAIN, ALL_DOMAINS = "in-domain", "out-of-domain", "all domains"

Paired = tuple[list[float], list[float]]
"""One domain's paired per-example scores: (method's, baseline's)."""


def holdings(config: ExperimentConfig) -> dict[str, list[str]]:
    """Participant -> the domains its private data comes from (the server: none); empty for one task."""
    if not config.domains:
        return {}
    return {config.server.name: [], **{c.name: list(c.domains) for c in config.clients}}


def stratified_bootstrap(
    strata: Sequence[Paired], *, n_resamples: int = 10_000, level: float = 0.95, seed: int = 0,
) -> PairedEstimate:
    """The mean over ``strata`` of each one's mean paired difference, with a percentile interval whose
    resamples redraw each stratum's pairs within it."""
    if not strata or any(not a or len(a) != len(b) for a, b in strata):
        raise ValueError("stratified pairs need non-empty paired lists of one length per stratum")
    rng = np.random.default_rng(seed)
    stats = np.zeros(n_resamples)
    estimate, same, n = 0.0, 0, 0
    for a, b in strata:
        diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        estimate += diff.mean() / len(strata)
        same, n = same + int(np.sum(diff == 0)), n + diff.size
        chunk = max(1, (1 << 22) // diff.size)
        for start in range(0, n_resamples, chunk):
            rows = min(chunk, n_resamples - start)
            stats[start:start + rows] += diff[rng.integers(0, diff.size, size=(rows, diff.size))].mean(axis=1)
    stats /= len(strata)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return PairedEstimate(n, float(estimate), float(low), float(high), same)


def scopes(participant: str, held: Sequence[str], domains: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(scope, its domains) of a participant: in-domain and out-of-domain, or all domains for one that holds none."""
    if not held:
        return [(ALL_DOMAINS, list(domains))]
    out = [d for d in domains if d not in held]
    return [(IN_DOMAIN, [d for d in domains if d in held]), *([(OUT_OF_DOMAIN, out)] if out else [])]


@dataclass(frozen=True)
class ScopeDifference:
    """``method`` minus ``baseline`` for ``participant`` over the ``domains`` of one ``scope`` (macro, paired)."""

    label: str  # the claim or the compared run
    method: str
    baseline: str
    participant: str
    scope: str
    domains: tuple[str, ...]
    estimate: PairedEstimate

    @property
    def verdict(self) -> str:
        return verdict(self.estimate.estimate, self.estimate.low, self.estimate.high)


def scope_difference(
    label: str, method: str, baseline: str, participant: str, scope: str, paired: Mapping[str, Paired], *,
    n_resamples: int, seed: int,
) -> ScopeDifference | None:
    """The macro difference over ``paired``'s domains; None when a domain has no shared example."""
    if not paired or any(not a for a, _ in paired.values()):
        return None
    estimate = stratified_bootstrap(list(paired.values()), n_resamples=n_resamples, seed=seed)
    return ScopeDifference(label, method, baseline, participant, scope, tuple(paired), estimate)


def _final_main(rows: list[ResultRow]) -> dict[tuple[str, str, str], ResultRow]:
    return {(r.method, r.participant, r.task): r for r in _final_rows(rows) if r.metric in MAIN_METRICS}


def domain_pairs(
    ours: Mapping[str, ScoreRecord | None], theirs: Mapping[str, ScoreRecord | None], domains: Sequence[str],
) -> dict[str, Paired] | None:
    """Each domain's paired scores, or None when a domain lacks a scoring on either side."""
    out: dict[str, Paired] = {}
    for domain in domains:
        a, b = ours.get(domain), theirs.get(domain)
        if a is None or b is None:
            return None
        out[domain] = paired_scores(a, b)
    return out


def _records(
    final: Mapping[tuple[str, str, str], ResultRow], scores: ScoreIndex, method: str, participant: str,
    domains: Sequence[str],
) -> dict[str, ScoreRecord | None]:
    """Domain -> the per-example scores behind ``method``'s final row for ``participant`` there."""
    found = {d: final.get((method, participant, d)) for d in domains}
    return {d: scores.for_row(r) for d, r in found.items() if r is not None}


def check_scopes(
    rows: list[ResultRow], scores: ScoreIndex, held: Mapping[str, Sequence[str]], *, n_resamples: int = 10_000,
    seed: int = 0, claims: Sequence[Claim] = CLAIMS,
) -> list[ScopeDifference]:
    """Each difference claim's pairs, per client and scope (``held``: :func:`holdings`); none for one task."""
    final = _final_main(rows)
    domains = sorted({r.task for r in final.values()})
    if not held or len(domains) < 2:
        return []
    out: list[ScopeDifference] = []
    for claim in (c for c in claims if c.kind == "difference"):
        for method, baseline in claim.pairs:
            for participant in held:
                ours, theirs = (_records(final, scores, name, participant, domains) for name in (method, baseline))
                for scope, chosen in scopes(participant, held[participant], domains):
                    paired = domain_pairs(ours, theirs, chosen)
                    found = None if paired is None else scope_difference(
                        f"({claim.id}) {claim.statement}", method, baseline, participant, scope, paired,
                        n_resamples=n_resamples, seed=seed)
                    if found is not None:
                        out.append(found)
    return out


def render_scopes(differences: Sequence[ScopeDifference], label: str = "Claim") -> str:
    """Markdown: one line per participant and scope with the macro difference, its interval and verdict."""
    rows = []
    for d in differences:
        e = d.estimate
        against = d.baseline if d.baseline != d.method else "itself"
        rows.append((d.label, d.participant, d.scope, ", ".join(d.domains), f"{d.method} vs {against}",
                     f"{e.estimate:+.1f} [{e.low:+.1f}, {e.high:+.1f}]", e.n, e.same, f"**{d.verdict}**"))
    header = [label, "Participant", "Scope", "Domains", "Method vs baseline", "Macro difference [95% CI]", "n",
              "Same score", "Verdict"]
    return markdown_table(header, rows, "llllllrrl")
