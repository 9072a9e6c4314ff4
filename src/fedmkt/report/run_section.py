"""One experiment folder as a section of RESULTS.md: how to rerun it, its tables, claims, times, bytes, plots.

Everything comes from the folder itself (``config.yaml``, ``results.json``, ``metrics.jsonl``,
``comm.jsonl``, ``scores/``, ``plots/``), so the section can be regenerated from the folder at any
time. A folder whose run has not finished (no ``results.json`` yet) is reported from the rows of
its finished phases (``phases/*.json``) and says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from fedmkt.config import ExperimentConfig, load_configs
from fedmkt.errors import FedMKTError
from fedmkt.report.claims import NO_SCORES, Comparison, render_claims
from fedmkt.report.events import scan_jsonl
from fedmkt.report.markdown import markdown_table
from fedmkt.report.privacy import INTRO as PRIVACY_INTRO
from fedmkt.report.privacy import render_privacy
from fedmkt.report.reproduce import Reproduction
from fedmkt.report.results import ResultRow, read_results
from fedmkt.report.table import render_report


@dataclass(frozen=True)
class ExperimentFolder:
    """What a report needs from one experiment's run folder."""

    path: Path
    config: ExperimentConfig
    rows: list[ResultRow]
    finished: bool  # results.json written: every phase ran
    events: list[dict]
    comm: list[dict]


def _jsonl(path: Path) -> list[dict]:
    """The readable lines (``report.damage`` lists the damaged ones)."""
    return scan_jsonl(path)[0]


def _phase_rows(path: Path) -> list[ResultRow]:
    """Rows of the finished phases whose records are intact (``report.damage`` lists the others)."""
    from fedmkt.report.journal import read_phase

    rows: list[ResultRow] = []
    for file in sorted((path / "phases").glob("*.json")):
        with contextlib.suppress(FedMKTError):
            rows += read_phase(path, file.stem) or []
    return rows


def is_experiment(path: Path) -> bool:
    """An experiment's folder: its config and its log (or, where the log was lost, its finished phases).

    A suite's folder has a config and results, but neither of these.
    """
    return (path / "config.yaml").is_file() and ((path / "metrics.jsonl").is_file() or (path / "phases").is_dir())


def experiment_folders(run_dir: Path) -> list[Path]:
    """``run_dir`` itself, or a suite folder's experiment folders in the suite's order."""
    if is_experiment(run_dir):
        return [run_dir]
    if (run_dir / "config.yaml").is_file():
        subs = [run_dir / c.name for c in load_configs(run_dir / "config.yaml")]
        if any(is_experiment(s) for s in subs):
            return [s for s in subs if is_experiment(s)]
    raise FedMKTError(f"{run_dir}: not a fedmkt run folder (expected config.yaml and metrics.jsonl, or a suite "
                      f"folder holding experiment folders)")


def load_experiment(path: Path) -> ExperimentFolder:
    (config,) = load_configs(path / "config.yaml")
    finished = (path / "results.json").is_file()
    rows = read_results(path / "results.json") if finished else _phase_rows(path)
    return ExperimentFolder(path, config, rows, finished, _jsonl(path / "metrics.jsonl"), _jsonl(path / "comm.jsonl"))


def render_wall_times(events: list[dict]) -> str:
    """The run's wall time (each session's ``run_end``) and each phase's (``phase_end``), as markdown."""
    sessions = [e for e in events if e.get("event") in ("run_start", "run_resume")]
    ends = [float(e["seconds"]) for e in events if e.get("event") == "run_end"]
    phases = [(str(e["phase"]), float(e["seconds"])) for e in events if e.get("event") == "phase_end"]
    if ends:
        line = f"Run wall time: **{sum(ends):.0f} s**"
        if len(sessions) > 1:
            line += (f" over {len(ends)} of {len(sessions)} sessions (the run was resumed; a session that "
                     f"stopped early has no `run_end` and is not counted)")
    else:
        line = "Run wall time: not recorded (the run has not finished: no `run_end` event)"
    table = markdown_table(["Phase", "Wall (s)"], [*((phase, f"{seconds:.1f}") for phase, seconds in phases),
                                                  ("all phases", f"{sum(s for _, s in phases):.1f}")], "lr")
    return f"{line}. Phases (a resumed phase counts its time before the resume too):\n\n{table}"


def render_plots(folder: ExperimentFolder, link_base: Path, plots_dir: Path | None) -> str:
    """Image links to the folder's per-round plots, then its per-method plots (copied to ``plots_dir`` if given)."""
    pngs = sorted((folder.path / "plots").glob("rounds_*.png")) + sorted((folder.path / "plots").glob("methods_*.png"))
    lines = []
    for png in pngs:
        target = png
        if plots_dir is not None:
            in_suite = (folder.path.parent / "config.yaml").is_file()  # a suite's experiment: name the suite too
            prefix = f"{folder.path.parent.name}-{folder.path.name}" if in_suite else folder.path.name
            target = plots_dir / f"{prefix}-{png.name}"
            plots_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(png, target)
        link = Path(os.path.relpath(target.resolve(), link_base.resolve())).as_posix()
        lines.append(f"![{folder.config.name}: {png.stem}]({link})")
    return "\n\n".join(lines)


def _deeper(markdown: str, levels: int) -> str:
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown, flags=re.MULTILINE)


def _scope_section(folder: ExperimentFolder, n_resamples: int) -> list[str]:
    """A domain federation's in-domain and out-of-domain differences (``report.domain_claims``); none for one task."""
    from fedmkt.report.domain_claims import check_scopes, holdings, render_scopes
    from fedmkt.report.scores import ScoreIndex

    if not folder.config.domains:
        return []
    found = check_scopes(folder.rows, ScoreIndex.load(folder.path), holdings(folder.config), n_resamples=n_resamples,
                         seed=folder.config.seed)
    held = "; ".join(f"{c.name}: {', '.join(c.domains)}" for c in folder.config.clients)
    out = ["### In domain and out of domain (macro over each set's domains, paired, resampled within each domain)",
           "", f"A client's in-domain set is the domains its private data comes from ({held}); its out-of-domain set "
           "the others, which it can learn only through the transfer. The server holds no private data: all "
           "domains.", ""]
    return out + ([render_scopes(found), ""] if found else ["No claim's pair was scored on every domain of a set.", ""])


def render_experiment(
    folder: ExperimentFolder, comparisons: list[Comparison], reproduction: Reproduction,
    link_base: Path, plots_dir: Path | None = None, n_resamples: int = 10_000,
) -> str:
    """The ``## <experiment>`` section: command, tables, claims (a domain federation's in and out of domain too),
    wall times, bytes, round times, transfer, plots."""
    from fedmkt.report.comm import reference_sizes, render_comm_table, render_round_times  # imports torch
    from fedmkt.report.exclusions import render_exclusions
    from fedmkt.report.participation import render_participation
    from fedmkt.report.transfer import render_transfer

    config, rows = folder.config, folder.rows
    scenario = rows[0].scenario if rows else "no rows yet"
    dev = ", scored on the dev slice (held out of training, not the eval set)" if config.eval.split == "dev" else ""
    state = "" if folder.finished else " (unfinished: rows of the finished phases only)"
    out = [f"## {config.name}: {config.task_label}, {scenario}{dev}{state}", "",
           "Reproduce (then `fedmkt report` on the folder):", "", "```bash", reproduction.command, "```", ""]
    if reproduction.note:
        out += [f"The command {reproduction.note}.", ""]
    tables = render_report(rows, config.name).split("\n", 1)[1].strip() if rows else ""
    out += ["### Scores", "", _deeper(tables, 2) if tables else "No scores yet.", ""]
    out += ["### Claims (paired bootstrap over the same eval examples, final round)", ""]
    if comparisons:
        out += [render_claims(comparisons), ""]
        if any(c.verdict == NO_SCORES for c in comparisons):
            out += ["Pairs marked *no per-example scores* come from a run folder written before `scores/` "
                    "existed (or one whose score files do not match `results.json`): rerun it to test them.", ""]
    else:
        out += ["No claim of the paper compares methods this run has.", ""]
    out += _scope_section(folder, n_resamples)
    out += ["### Wall time", "", render_wall_times(folder.events), ""]
    comm = render_comm_table(folder.comm, reference_sizes(folder.events))
    if comm:
        out += ["### Bytes per round (all clients together)", "", comm, ""]
    times = render_round_times(folder.events)
    if times:
        out += ["### Time per round and overhead share", "",
                "Overhead is everything but forward and backward passes: (de)serialisation, validation, "
                "alignment, selection, FedAvg, writing adapters and glue. Scoring is not part of a round.", "",
                times, ""]
    privacy = render_privacy(folder.events)
    if privacy:
        out += ["### Differential privacy: (epsilon, delta) per client and round", "", PRIVACY_INTRO, "", privacy, ""]
    transfer = render_transfer(folder.events)
    if transfer:
        out += ["### The transfer, per round", "", transfer, ""]
    exclusions = render_exclusions(folder.events).strip()
    if exclusions:
        out += [_deeper(exclusions, 1), ""]
    taking_part = render_participation(folder.events).strip()
    if taking_part:
        out += [_deeper(taking_part, 1), ""]
    plots = render_plots(folder, link_base, plots_dir)
    if plots:
        out += ["### Plots", "", plots, ""]
    return "\n".join(out)
