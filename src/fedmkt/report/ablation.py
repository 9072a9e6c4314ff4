"""Ablations: the same method in runs that differ in one setting, paired on the same eval examples.

A claim compares two methods inside one run; an ablation compares one method across runs (lambda
0 against 0.1, top-k 16 against 128, ...). Both runs score the same eval examples when they share
the task, seed and data sizes, so the difference is tested the same way: a paired bootstrap over
the examples both scored (matched by uid), plus the count of examples both runs score alike. Two
runs can tie on the mean yet answer differently; "same score on 199 of 200" says they did not.

Only final-round rows of the main metric are compared (the metric with per-example scores). A
domain federation is compared domain by domain, then each participant's in-domain and
out-of-domain macro difference (``report.domain_claims``), metric ``macro``.
``pairs`` sets a method of one run against another method of the reference (FedMKT-SLM in a
federated run against Standalone in a run that trains it longer, say); by default each method
meets itself.

A difference is only read as the effect of a setting when the runs differ in that setting alone:
``setting_differences`` lists every config key in which a run differs from the reference (its
name and trackers aside), and ``fedmkt compare`` prints them as a warning and in its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fedmkt.config import ExperimentConfig
from fedmkt.errors import FedMKTError
from fedmkt.report.claims import MAIN_METRICS, paired_estimate, paired_scores
from fedmkt.report.config_diff import Difference, differences, shown_value
from fedmkt.report.domain_claims import holdings, scope_difference, scopes
from fedmkt.report.markdown import markdown_table
from fedmkt.report.results import ResultRow
from fedmkt.report.run_section import experiment_folders, load_experiment
from fedmkt.report.scores import ScoreIndex, ScoreRecord
from fedmkt.report.table import MACRO, METRIC_NAMES, _final_rows, _method_rank


@dataclass(frozen=True)
class RunDifference:
    """``method`` of ``participant`` in run ``variant`` minus the same in the reference run."""

    variant: str
    method: str
    reference_method: str
    participant: str
    metric: str
    round: int | None
    reference_value: float
    variant_value: float
    n: int  # eval examples both runs scored
    estimate: float
    ci_low: float
    ci_high: float
    same: int  # examples both runs score alike
    task: str = ""  # the domain; a scope's (``in-domain: sciq``) for metric ``macro``


Key = tuple[str, str, str, str]
"""(method, participant, task, metric) of a final main-metric row."""


def _final_main_rows(rows: list[ResultRow]) -> dict[Key, ResultRow]:
    return {(r.method, r.participant, r.task, r.metric): r for r in _final_rows(rows) if r.metric in MAIN_METRICS}


def reference_folder(run_dir: Path) -> Path:
    """The one experiment folder of ``run_dir``; a suite of several is ambiguous as a reference."""
    folders = experiment_folders(run_dir)
    if len(folders) != 1:
        names = ", ".join(f.name for f in folders)
        raise FedMKTError(f"{run_dir}: a suite of {len(folders)} experiments ({names}); pass one of them as "
                          f"the reference")
    return folders[0]


def parse_pairs(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``["FedMKT-SLM:Standalone"]`` -> ``[("FedMKT-SLM", "Standalone")]`` (run's method, reference's method)."""
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        method, sep, reference_method = spec.partition(":")
        if not sep or not method.strip() or not reference_method.strip():
            raise FedMKTError(f"--pair {spec!r}: expected RUN_METHOD:REFERENCE_METHOD, e.g. FedMKT-SLM:Standalone")
        pairs.append((method.strip(), reference_method.strip()))
    return pairs


def compare_runs(
    reference: Path, variants: Sequence[Path], *, pairs: Sequence[tuple[str, str]] | None = None,
    n_resamples: int = 10_000, seed: int = 0,
) -> list[RunDifference]:
    """Every final-round main-metric row a variant experiment shares with the reference, tested in pairs.

    ``variants`` may be experiment or suite folders; rows whose per-example scores are missing on
    either side, or which share no eval example, are left out. With ``pairs`` only the methods it
    names are compared, each against the reference's methods it pairs them with.
    """
    ref_path = reference_folder(reference)
    ref_rows = _final_main_rows(load_experiment(ref_path).rows)
    ref_scores = ScoreIndex.load(ref_path)
    out: list[RunDifference] = []
    for run_dir in variants:
        for path in experiment_folders(run_dir):
            folder = load_experiment(path)
            scores = ScoreIndex.load(path)
            rows = _final_main_rows(folder.rows)
            found: dict[tuple[str, str, str], dict[str, tuple[RunDifference, ScoreRecord, ScoreRecord]]] = {}
            for key in sorted(rows, key=lambda k: (_method_rank(k[0]), k[1], k[2], k[3])):
                wanted = [key[0]] if pairs is None else [ref for method, ref in pairs if method == key[0]]
                for reference_method in wanted:
                    paired = _difference(folder.config.name, rows[key], reference_method, scores, ref_rows,
                                         ref_scores, n_resamples, seed)
                    if paired is not None:
                        out.append(paired[0])
                        found.setdefault((key[0], reference_method, key[1]), {})[key[2]] = paired
            out += _scope_differences(folder.config, found, n_resamples, seed)
    return out


def _difference(
    variant: str, row: ResultRow, reference_method: str, scores: ScoreIndex, ref_rows: dict[Key, ResultRow],
    ref_scores: ScoreIndex, n_resamples: int, seed: int,
) -> tuple[RunDifference, ScoreRecord, ScoreRecord] | None:
    """``row`` against the reference's ``reference_method`` row of the same participant and task, with the two
    scorings; None if unpairable."""
    base = ref_rows.get((reference_method, row.participant, row.task, row.metric))
    if base is None:
        return None
    ours, theirs = scores.for_row(row), ref_scores.for_row(base)
    if ours is None or theirs is None:
        return None
    paired = paired_estimate(ours, theirs, n_resamples=n_resamples, seed=seed)
    if paired is None:
        return None
    return RunDifference(variant, row.method, reference_method, row.participant, row.metric, row.round,
                         base.value, row.value, paired.n, paired.estimate, paired.low, paired.high, paired.same,
                         row.task), ours, theirs


def _scope_differences(
    config: ExperimentConfig,
    found: dict[tuple[str, str, str], dict[str, tuple[RunDifference, ScoreRecord, ScoreRecord]]],
    n_resamples: int, seed: int,
) -> list[RunDifference]:
    """In a domain federation (``config``, the variant's): each (method, participant)'s in-domain and
    out-of-domain macro difference, over the domains both runs scored (a scope with a domain missing is left out)."""
    held, variant = holdings(config), config.name
    out: list[RunDifference] = []
    for (method, reference_method, participant), by_domain in found.items():
        if participant not in held:
            continue
        for scope, domains in scopes(participant, held[participant], [d.label for d in config.domains]):
            if not set(domains) <= set(by_domain):
                continue
            paired = {d: paired_scores(by_domain[d][1], by_domain[d][2]) for d in domains}
            macro = scope_difference(variant, method, reference_method, participant, scope, paired,
                                     n_resamples=n_resamples, seed=seed)
            if macro is None:
                continue
            e, rows = macro.estimate, [by_domain[d][0] for d in domains]
            mean = lambda values: sum(values) / len(values)  # noqa: E731
            out.append(RunDifference(variant, method, reference_method, participant, MACRO, rows[0].round,
                                     mean([r.reference_value for r in rows]), mean([r.variant_value for r in rows]),
                                     e.n, e.estimate, e.low, e.high, e.same, f"{scope}: {', '.join(domains)}"))
    return out


def render_ablation(reference_name: str, differences: list[RunDifference]) -> str:
    """Markdown: one line per (run, method, participant) with both scores, the paired difference and ties."""
    if not differences:
        return f"No run shares a scored method and eval examples with {reference_name}."
    domains = len({d.task for d in differences}) > 1  # a domain federation: name each line's domain or scope
    rows = []
    for d in differences:
        rnd = f" (round {d.round})" if d.round is not None else ""
        against = f" vs {d.reference_method}" if d.reference_method != d.method else ""
        rows.append((d.variant, f"{d.method}{rnd}{against}", d.participant, *((d.task,) if domains else ()),
                     METRIC_NAMES.get(d.metric, d.metric), f"{d.reference_value:.1f}", f"{d.variant_value:.1f}",
                     f"{d.estimate:+.1f} [{d.ci_low:+.1f}, {d.ci_high:+.1f}]", d.n, d.same))
    header = ["Run", "Method", "Participant", *(("Domain",) if domains else ()), "Metric", reference_name,
              "Run's score", "Difference [95% CI]", "n", "Same score"]
    return markdown_table(header, rows, "lll" + "l" * domains + "lrrrrr")


UNCOMPARED = ("name", "tracking")
"""Config keys whose difference says nothing of the scores: the experiment's label and its trackers."""


def setting_differences(reference: ExperimentConfig, run: ExperimentConfig) -> list[Difference]:
    """Every config key (dotted path) in which ``run`` differs from ``reference``, in the config's order."""
    return differences(reference.model_dump(mode="json"), run.model_dump(mode="json"), ignore=UNCOMPARED)


def describe(difference: Difference) -> str:
    """``fedmkt.kd_weight 0.1 -> 0.0``: the reference's value, then the run's (each cut to 40 characters)."""
    return f"{difference.path} {shown_value(difference.before)} -> {shown_value(difference.after)}"


def render_settings(reference_name: str, runs: list[tuple[str, list[Difference]]]) -> str:
    """Markdown: for each compared run, the settings in which it differs from the reference."""
    lines = [f"Settings that differ from {reference_name} (its value -> the run's):", ""]
    for name, found in runs:
        listed = "; ".join(f"`{describe(d)}`" for d in found) if found else "none"
        lines.append(f"- {name}: {listed}")
    return "\n".join(lines)
