"""fedmkt from Python: run a config, read its results, load a trained adapter.

The same code paths as the CLI (``fedmkt run``: the config checked key by key, ``KEY=VALUE``
overrides, preflight, the run folder), with plain values in and out::

    from fedmkt import api

    result = api.run("preset:tiny", out="runs/tiny", overrides={"fedmkt.rounds": 1})
    for row in api.load_results("runs/tiny"):
        print(row.method, row.participant, row.metric, row.value, row.ci_low, row.ci_high)
    model, tokenizer = api.load_adapter("runs/tiny/tiny-heterogeneous", "FedMKT-SLM", "client-1")

Errors are `fedmkt.errors.FedMKTError` with the CLI's one-line messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from peft import PeftModel
from rich.console import Console
from transformers import PreTrainedTokenizerBase

from fedmkt.config import ExperimentConfig, load_configs, load_preset, parse_config, parse_overrides
from fedmkt.errors import FedMKTError
from fedmkt.report.model_card import phase_of
from fedmkt.report.results import ResultRow, read_results

ConfigSource = str | Path | Mapping[str, Any] | ExperimentConfig | Sequence[ExperimentConfig]

__all__ = ["ResultRow", "RunResult", "load_adapter", "load_results", "run"]


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder, the experiments it ran and every score row (``results.json``)."""

    run_dir: Path
    configs: list[ExperimentConfig]
    rows: list[ResultRow]

    def scores(self, method: str | None = None, participant: str | None = None,
               metric: str | None = None) -> list[ResultRow]:
        """The rows matching every given filter (``round`` None rows and per-round rows alike)."""
        return [r for r in self.rows if (method is None or r.method == method)
                and (participant is None or r.participant == participant) and (metric is None or r.metric == metric)]


def _override_texts(overrides: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` strings as the CLI takes them; a mapping's values are written as YAML."""
    if isinstance(overrides, Mapping):
        return [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                for key, value in overrides.items()]
    return list(overrides)


def _configs(config: ConfigSource, overrides: Sequence[str] | Mapping[str, Any] = ()) -> list[ExperimentConfig]:
    """The experiments of a YAML file, ``preset:<name>``, a mapping (one experiment) or config objects."""
    changes = parse_overrides(_override_texts(overrides))
    if isinstance(config, ExperimentConfig):
        config = [config]
    if isinstance(config, Sequence) and not isinstance(config, str):
        if changes:
            raise FedMKTError("overrides apply to a file, a preset or a mapping; change config objects directly")
        return [ExperimentConfig.model_validate(c.model_dump()) for c in config]
    if isinstance(config, Mapping):
        return [parse_config(dict(config), "config mapping", changes)]
    if isinstance(config, str) and config.startswith("preset:"):
        return load_preset(config.removeprefix("preset:"), changes)
    path = Path(config)
    if not path.is_file():
        raise FedMKTError(f"config {str(config)!r}: no such file; expected a YAML file, preset:<name>, a mapping "
                          "or ExperimentConfig objects")
    return load_configs(path, changes)


def run(config: ConfigSource, *, out: str | Path | None = None, overrides: Sequence[str] | Mapping[str, Any] = (),
        show_progress: bool = False, console: Console | None = None) -> RunResult:
    """Run every experiment of ``config`` into ``out`` (default ``runs/<name>-<time>``), as ``fedmkt run`` does.

    ``overrides`` are ``["fedmkt.rounds=1"]`` or ``{"fedmkt.rounds": 1}``, checked like the file's keys.
    The run's report is not printed unless ``console`` is given.
    """
    from fedmkt.report.journal import leftovers
    from fedmkt.runners.folders import default_run_dir
    from fedmkt.runners.local import run_suite
    from fedmkt.tracking import require_installed

    configs = _configs(config, overrides)
    run_dir = Path(out) if out is not None else default_run_dir(configs[0].name if len(configs) == 1 else "suite")
    if run_dir.exists() and not run_dir.is_dir():
        raise FedMKTError(f"out {run_dir} is a file; expected a new or empty folder")
    if leftovers(run_dir) is None:
        raise FedMKTError(f"out {run_dir} already holds files; pick a new folder")
    require_installed(configs)
    rows = run_suite(configs, run_dir, show_progress=show_progress, console=console or Console(quiet=True))
    return RunResult(run_dir, configs, rows)


def load_results(run_dir: str | Path) -> list[ResultRow]:
    """Every score row of a run folder (``results.json``: a suite's folder holds all its experiments' rows)."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise FedMKTError(f"{run_dir}: no results.json; expected the folder of a finished fedmkt run")
    return read_results(path)


def _experiment(run_dir: Path, experiment: str | None) -> tuple[Path, ExperimentConfig]:
    """The experiment's own folder and config (a suite's folder needs ``experiment``)."""
    if not (run_dir / "config.yaml").is_file():
        raise FedMKTError(f"{run_dir}: no config.yaml; expected a fedmkt run folder")
    configs = load_configs(run_dir / "config.yaml")
    if len(configs) == 1 and experiment in (None, configs[0].name):
        return run_dir, configs[0]
    names = [c.name for c in configs]
    if experiment not in names:
        raise FedMKTError(f"{run_dir}: holds experiments {', '.join(names)}; pass experiment= one of them")
    return _experiment(run_dir / experiment, None)


def adapter_folder(run_dir: Path, method: str, participant: str, round: int | None = None) -> Path:
    """Where a method's adapter of ``participant`` is: ``adapters/<method>/<p>`` or the newest (or given) round."""
    baseline = run_dir / "adapters" / method / participant
    if (baseline / "adapter_config.json").is_file():
        return baseline
    phase = run_dir / "adapters" / phase_of(method)
    rounds = sorted(int(p.name.removeprefix("round-")) for p in phase.glob("round-*")
                     if (p / participant / "adapter_config.json").is_file())
    if not rounds or (round is not None and round not in rounds):
        have = sorted(str(p.parent.relative_to(run_dir / "adapters"))
                      for p in (run_dir / "adapters").glob("**/adapter_config.json"))
        wanted = f"{method} round {round}" if round is not None else method
        raise FedMKTError(f"{run_dir}: no adapter of {participant!r} for {wanted}; the run kept: "
                          f"{', '.join(have) or 'none'}")
    return phase / f"round-{round if round is not None else rounds[-1]}" / participant


def load_adapter(run_dir: str | Path, method: str, participant: str, *, round: int | None = None,
                 experiment: str | None = None, device: str = "cpu",
                 dtype: str = "float32") -> tuple[PeftModel, PreTrainedTokenizerBase]:
    """The participant's base model (from the run's ``config.yaml``) with the method's adapter, and its tokenizer.

    ``round``: a federated method's round (default: the last kept). ``experiment``: which one of a
    suite's folder. The model is in eval mode on ``device``.
    """
    from fedmkt.models.lora import load_adapter as attach_saved
    from fedmkt.setup.models import load_model

    folder, config = _experiment(Path(run_dir), experiment)
    specs = {p.name: p for p in (config.server, *config.clients)}
    if participant not in specs:
        raise FedMKTError(f"{folder}: no participant {participant!r} in experiment {config.name!r}; it has "
                          f"{', '.join(specs)}")
    adapter = adapter_folder(folder, method, participant, round)
    model, tokenizer = load_model(specs[participant], dtype=dtype, device=device, seed=config.seed)
    return attach_saved(model, adapter).eval(), tokenizer
