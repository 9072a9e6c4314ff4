"""The in-process runner: every phase of an experiment, one after another, in this process.

A run folder holds ``config.yaml`` (resolved), ``run.json`` (the config it started with),
``metrics.jsonl`` (events), ``phases/`` (each finished phase's result rows, so ``--resume``
skips it), ``checkpoints/`` (the unfinished federated phase's last completed step, so
``--resume`` continues after it), ``adapters/`` (peft format), ``results.json``, ``results.md``
and ``plots/``.

Resuming first cuts ``metrics.jsonl`` and ``comm.jsonl`` back to the newest finished record
(``report.journal``): the events after it belong to work that is redone, so none is duplicated;
damage inside the part a record counts makes that record's work be redone too.
A failed write (a full disk) or a failed step (a non-finite loss) stops the run with one line
that says how to resume; the last checkpoint stays intact.

A run holds its folder's lock (``runners.lock``) from start to end, records the config it
started with (``runners.config_record``: a resume refuses one edited since), and starts only in a
folder that is new, empty, or holds no more than a run that failed before its first phase left.
"""

from __future__ import annotations

import contextlib
import errno
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.markdown import Markdown
from transformers.utils import logging as hf_logging

from fedmkt.config import ExperimentConfig, dump_config, dump_configs
from fedmkt.data.partition import FederatedSplit
from fedmkt.errors import FedMKTError
from fedmkt.io import DiskWriteError, atomic_write_text
from fedmkt.models.precision import mixed_precision
from fedmkt.report import journal
from fedmkt.report.comm import CommLedger, reference_sizes, render_comm_table, render_round_times
from fedmkt.report.events import EventLog
from fedmkt.report.exclusions import exclusion_records, render_exclusions
from fedmkt.report.model_card import write_adapter_cards
from fedmkt.report.privacy import INTRO as PRIVACY_INTRO
from fedmkt.report.privacy import render_privacy
from fedmkt.report.results import ResultRow, write_results
from fedmkt.report.run_plots import write_run_plots
from fedmkt.report.table import render_report
from fedmkt.runners import config_record, lock
from fedmkt.runners.checkpoint import CheckpointDamaged, PhaseCheckpoint, StepFailed
from fedmkt.runners.folders import check_names
from fedmkt.runners.phases import Phase, plan_phases
from fedmkt.runners.preflight import preflight
from fedmkt.runners.progress import ProgressBoard
from fedmkt.runners.split import infer_scenario
from fedmkt.setup.context import RunContext
from fedmkt.tracking import open_trackers


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _run_phase(ctx: RunContext, phase: Phase, resume: bool) -> list[ResultRow]:
    checkpoint = PhaseCheckpoint(ctx.run_dir, phase.id)
    if resume and (rows := journal.read_phase(ctx.run_dir, phase.id)) is not None:
        ctx.log.write("phase_skipped", phase=phase.id, reason="finished before resume")
        checkpoint.discard()  # left behind if killed between the phase file and the clean-up
        return rows
    _seed_everything(ctx.config.seed)
    earlier = checkpoint.phase_seconds() if resume else None  # a federated phase resumes inside itself
    if earlier is None:
        ctx.log.write("phase_start", phase=phase.id)
    start = time.perf_counter() - (earlier or 0.0)
    runtime = ctx.config.runtime
    try:
        with mixed_precision(runtime.autocast, runtime.device):
            rows = phase.run(ctx)
    except (StepFailed, DiskWriteError, CheckpointDamaged):
        raise
    except FedMKTError as error:
        raise StepFailed(f"phase {phase.id}: {error}") from error
    ctx.log.write("phase_end", phase=phase.id, seconds=round(time.perf_counter() - start, 3))
    journal.write_phase(ctx.run_dir, phase.id, rows)  # after phase_end, so its watermark covers it
    checkpoint.discard()
    return rows


_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}
"""OSErrors from a library's own writes (peft, matplotlib) that mean the disk, not a bug."""


def _resumable(run_dir: Path, error: StepFailed | DiskWriteError | OSError) -> FedMKTError:
    """The one-line error for a run that stopped part-way, with the command that continues it."""
    resume = f"`fedmkt run --resume {run_dir}`"
    if isinstance(error, StepFailed):
        return FedMKTError(f"{error}; finished work and the last checkpoint are kept: fix the cause (settings in "
                           f"config.yaml stay as the run started: a change needs a new run), then run {resume}")
    if not isinstance(error, DiskWriteError):  # an OSError from a library's own write (plots, peft)
        error = DiskWriteError(error.filename or run_dir, error)
    return FedMKTError(f"{error}; free space and run {resume}")


@contextlib.contextmanager
def _stops_resumably(run_dir: Path) -> Iterator[None]:
    """A failed step or a failed write inside the block becomes the one-line error that says how to resume."""
    try:
        yield
    except (StepFailed, DiskWriteError) as error:
        raise _resumable(run_dir, error) from error
    except OSError as error:
        if error.errno not in _DISK_ERRNOS:  # not a failed write: a real bug, keep its traceback
            raise
        raise _resumable(run_dir, error) from error


def run_experiment(
    config: ExperimentConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    console: Console | None = None,
) -> list[ResultRow]:
    """Run every method of ``config`` into ``run_dir`` and write the results there.

    With ``resume``, finished phases are skipped and an unfinished federated phase continues after
    its last checkpointed step. A run that stops part-way raises a one-line ``FedMKTError`` naming
    the command that resumes it.
    """
    check_names([config])
    split = preflight(config, show_progress=show_progress).split  # every size check, before the folder is touched
    with _stops_resumably(run_dir):
        return _run_experiment(config, run_dir, split, resume=resume, show_progress=show_progress, console=console)


def _open_folder(run_dir: Path, configs: list[ExperimentConfig], resume: bool, console: Console) -> dict:
    """Check the folder before anything is written (the caller holds its lock); fields for the opening event.

    A resume checks the config against the one the run started with and the logs against their
    records (cutting them back to the newest intact one); a fresh run clears what a failed start left.
    """
    if not resume:
        journal.clear_for_fresh_run(run_dir)
        return {"config_sha256": config_record.record_start(run_dir, configs)}
    notes = [config_record.check_unchanged(run_dir, configs)]
    fields: dict = {"config_sha256": config_record.config_digest(config_record.config_data(configs))}
    if len(configs) == 1:
        mark, recovered = journal.rewind_logs(run_dir)  # events after the newest finished record are redone
        fields.update(metrics_bytes=mark.metrics_bytes if mark else None, recovered=recovered)
        notes.append(recovered)
    for note in filter(None, notes):
        console.print(f"note: {note}", markup=False, highlight=False)
    return fields


def _run_experiment(
    config: ExperimentConfig, run_dir: Path, split: FederatedSplit, *, resume: bool, show_progress: bool,
    console: Console | None,
) -> list[ResultRow]:
    console = console or Console()
    with lock.held(run_dir):
        opening = _open_folder(run_dir, [config], resume, console)
        return _run_locked(config, run_dir, split, opening, resume=resume, show_progress=show_progress,
                           console=console)


def _run_locked(
    config: ExperimentConfig, run_dir: Path, split: FederatedSplit, opening: dict, *, resume: bool,
    show_progress: bool, console: Console,
) -> list[ResultRow]:
    hf_logging.disable_progress_bar()  # our own bars show progress; weight loading is a few seconds
    if config.runtime.threads:
        torch.set_num_threads(config.runtime.threads)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    log = EventLog(run_dir / "metrics.jsonl")
    log.write("run_resume" if resume else "run_start", name=config.name, torch_threads=torch.get_num_threads(),
              **opening)
    start = time.perf_counter()
    log.write("data_split", public=len(split.public), private=[len(p) for p in split.private], eval=len(split.eval))
    journal.mark_start(run_dir)
    log.sinks += open_trackers(config, run_dir)  # report_to: trackers rewritten from the log so far, then live
    rows: list[ResultRow] = []
    with ProgressBoard(enabled=show_progress) as board:
        ctx = RunContext(config, split, run_dir, log, board.task, scenario=infer_scenario(config), resume=resume)
        for phase in plan_phases(config):
            rows += _run_phase(ctx, phase, resume)

    write_results(rows, run_dir / "results.json")
    write_run_plots(rows, run_dir)
    write_adapter_cards(run_dir)  # a model card (README.md) in each adapter folder, from the results just written
    seconds = time.perf_counter() - start
    scored_on = ", scored on the dev slice" if config.eval.split == "dev" else ""
    report = render_report(rows, f"{config.name}: {config.task_label} ({ctx.scenario}{scored_on})")
    comm = render_comm_table(CommLedger(run_dir / "comm.jsonl").read(), reference_sizes(log.read()))
    if comm:
        report += "\n## Communication (bytes per round, all clients together)\n\n" + comm + "\n"
    times = render_round_times(log.read())
    if times:
        report += ("\n## Time per round\n\nOverhead is everything but forward and backward passes: "
                   "(de)serialisation, validation, alignment, selection, FedAvg, writing adapters and glue "
                   "(other). Scoring is not part of a round.\n\n" + times + "\n")
    events = log.read()
    privacy = render_privacy(events)
    if privacy:
        report += f"\n## Differential privacy (epsilon, delta) per client and round\n\n{PRIVACY_INTRO}\n\n{privacy}\n"
    report += render_exclusions(events)
    atomic_write_text(run_dir / "exclusions.json", json.dumps(exclusion_records(events), indent=2))
    report += f"\n- run folder: {run_dir}\n- wall time: {seconds:.0f} s\n- seed: {config.seed}\n"
    atomic_write_text(run_dir / "results.md", report)
    log.write("run_end", seconds=round(seconds, 3))
    console.print(Markdown(report))
    return rows


def run_suite(
    configs: list[ExperimentConfig],
    run_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    console: Console | None = None,
) -> list[ResultRow]:
    """Run one experiment into ``run_dir``, or each experiment of a suite into ``run_dir/<name>``.

    A suite's folder also gets ``config.yaml`` (all experiments), and the combined
    ``results.json`` and ``results.md``.
    """
    if len(configs) == 1:
        return run_experiment(configs[0], run_dir, resume=resume, show_progress=show_progress, console=console)
    check_names(configs)
    splits = {c.name: preflight(c, show_progress=show_progress).split for c in configs}  # all, before any work
    with _stops_resumably(run_dir):
        return _run_suite(configs, run_dir, splits, resume=resume, show_progress=show_progress, console=console)


def _run_suite(
    configs: list[ExperimentConfig], run_dir: Path, splits: dict[str, FederatedSplit], *, resume: bool,
    show_progress: bool, console: Console | None,
) -> list[ResultRow]:
    console = console or Console()
    with lock.held(run_dir):
        _open_folder(run_dir, configs, resume, console)
        if resume:  # every started experiment is checked before any of them does work
            for config in configs:
                if (run_dir / config.name / config_record.RECORD).is_file():
                    config_record.check_unchanged(run_dir / config.name, [config])
        atomic_write_text(run_dir / "config.yaml", dump_configs(configs))
        return _run_suite_locked(configs, run_dir, splits, resume=resume, show_progress=show_progress,
                                 console=console)


def _run_suite_locked(
    configs: list[ExperimentConfig], run_dir: Path, splits: dict[str, FederatedSplit], *, resume: bool,
    show_progress: bool, console: Console,
) -> list[ResultRow]:
    rows: list[ResultRow] = []
    reports: list[str] = []
    for config in configs:
        sub = run_dir / config.name
        rows += _run_experiment(config, sub, splits[config.name], resume=resume and sub.exists(),
                                show_progress=show_progress, console=console)
        text = (sub / "results.md").read_text(encoding="utf-8")
        reports.append(re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE))  # one level deeper
    write_results(rows, run_dir / "results.json")
    atomic_write_text(run_dir / "results.md", f"# Suite: {', '.join(c.name for c in configs)}\n\n" + "\n".join(reports))
    return rows
