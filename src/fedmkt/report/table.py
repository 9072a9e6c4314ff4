"""Paper-style markdown tables: one row per method, one column per model.

As in the paper, the SLM table has a column per client and the LLM table a column for the
server; a cell is the score with its bootstrap 95% interval. Methods with rounds show the
score after their last round. A domain federation's rows carry their domain as ``task``: each
domain gets its tables, and a macro average (the mean of the domains' main metrics) closes them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace

from fedmkt.report.markdown import markdown_table
from fedmkt.report.results import ResultRow

METHOD_ORDER = (
    "LLM-ZS", "SLM-ZS", "Standalone", "FedAvg", "LLM2SLM", "Centralized-LLM",
    "FedMKT-SLM", "FedMKT-SLM-FedAvg", "FedMKT-LLM", "FedMKT-LLM-FedAvg",
)
METRIC_NAMES = {"acc": "accuracy", "acc_norm": "length-normalised accuracy",
                "acc_pmi": "domain-conditional PMI accuracy", "rougeL": "Rouge-L", "macro": "macro average"}
MAIN_METRICS = ("acc", "rougeL")
"""Each task's own metric (accuracy for multiple choice, Rouge-L for generation): the one with per-example scores."""
MACRO = "macro"
_Z95 = 1.959964


def _final_rows(rows: list[ResultRow]) -> list[ResultRow]:
    """Keep, for each (method, participant, metric), the row of the latest round."""
    latest: dict[tuple, ResultRow] = {}
    for row in rows:
        key = (row.method, row.participant, row.task, row.metric)
        if key not in latest or (row.round or 0) >= (latest[key].round or 0):
            latest[key] = row
    return list(latest.values())


def _method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def format_cell(row: ResultRow) -> str:
    return f"{row.value:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]"


def render_table(rows: list[ResultRow], role: str, metric: str) -> str:
    """One markdown table for ``role`` ("llm" or "slm") and ``metric``; empty if no rows."""
    picked = [r for r in _final_rows(rows) if r.role == role and r.metric == metric]
    if not picked:
        return ""
    columns: dict[str, str] = {}
    for r in sorted(picked, key=lambda r: r.participant):
        columns.setdefault(r.participant, f"{r.participant} ({r.model})")
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for r in picked:
        cells[r.method][r.participant] = format_cell(r)
    lines = [(method, *(cells[method].get(p, "-") for p in columns)) for method in sorted(cells, key=_method_rank)]
    return markdown_table(["Method", *columns.values()], lines, "l" + "r" * len(columns))


def macro_rows(rows: list[ResultRow]) -> list[ResultRow]:
    """Per method and participant scored on every task: the mean of the tasks' main metrics (final rounds).

    Its interval combines the tasks' bootstrap intervals as independent normal ones (half-width
    sqrt(sum of squared half-widths) / number of tasks); ``task`` and ``metric`` are ``macro``.
    """
    final = [r for r in _final_rows(rows) if r.metric in MAIN_METRICS]
    tasks = {r.task for r in final}
    groups: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    for r in final:
        groups[(r.method, r.participant)].append(r)
    out = []
    for group in groups.values():
        if {r.task for r in group} != tasks:
            continue
        value = sum(r.value for r in group) / len(group)
        half = math.sqrt(sum(((r.ci_high - r.ci_low) / 2) ** 2 for r in group)) / len(group)
        out.append(replace(group[0], task=MACRO, metric=MACRO, value=value, n=sum(r.n for r in group),
                           ci_low=value - half, ci_high=value + half))
    return out


def render_report(rows: list[ResultRow], title: str, notes: list[str] | None = None) -> str:
    """The whole ``results.md``: SLM and LLM tables for each task and metric (and the tasks' macro average)."""
    out = [f"# {title}", ""]
    for task in sorted({r.task for r in rows}):
        task_rows = [r for r in rows if r.task == task]
        n_values = sorted({r.n for r in task_rows})
        metrics = [m for m in ("acc", "rougeL", "acc_norm", "acc_pmi") if any(r.metric == m for r in task_rows)]
        for metric in metrics:
            for role, label in (("slm", "Client SLMs"), ("llm", "Server LLM")):
                table = render_table(task_rows, role, metric)
                if table:
                    name = METRIC_NAMES.get(metric, metric)
                    out += [f"## {label}: {task}, {name} (%, bootstrap 95% CI, n={'/'.join(map(str, n_values))})",
                            "", table, ""]
    if len({r.task for r in rows}) > 1:
        out += _macro_tables(rows)
    for note in notes or []:
        out.append(f"- {note}")
    return "\n".join(out).rstrip() + "\n"


def _macro_tables(rows: list[ResultRow]) -> list[str]:
    """The macro average's SLM and LLM tables, headed by the tasks and metrics it averages."""
    macro = macro_rows(rows)
    parts = sorted({(r.task, r.metric) for r in _final_rows(rows) if r.metric in MAIN_METRICS})
    averaged = ", ".join(f"{task} {METRIC_NAMES[metric]}" for task, metric in parts)
    out = []
    for role, label in (("slm", "Client SLMs"), ("llm", "Server LLM")):
        table = render_table(macro, role, MACRO)
        if table:
            out += [f"## {label}: macro average over {len(parts)} domains ({averaged}; %, 95% CI from the "
                    "domains' intervals)", "", table, ""]
    return out
