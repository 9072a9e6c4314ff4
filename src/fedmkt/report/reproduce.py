"""The command that reproduces a run folder, found by matching its resolved config to a config file.

A run folder's ``config.yaml`` is the resolved config (every default written out), not the file
the run was started from. So the report reads every YAML under the given config folders (the
repository's ``configs/``, whose files open with their ``# fedmkt run ...`` line) and the
shipped presets, resolves each the same way, and names the one whose experiments equal the
run's: ``fedmkt run configs/x.yaml --out <run folder>``. A folder of a suite's experiment points
at the suite (one command runs all of its experiments), or, when it was run on its own, at the
suite with ``--only <experiment>``. Where nothing matches (the file was edited
after the run, or the code's defaults changed) the command runs the folder's own resolved copy,
which reproduces the run just as exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fedmkt.config import PRESETS, ExperimentConfig, load_configs, load_preset
from fedmkt.errors import FedMKTError
from fedmkt.report.archive import original_run_dir


@dataclass(frozen=True)
class Reproduction:
    """``command`` reruns the experiment (into ``out``); ``note`` says what it runs when not obvious."""

    command: str
    note: str = ""


def _key(configs: Sequence[ExperimentConfig]) -> list[dict]:
    return [c.model_dump(mode="json") for c in configs]


def _in_run_folder(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a run folder (a run's own resolved copy is not where it came from)."""
    for folder in [path.parent, *path.parent.parents]:
        if any((folder / marker).exists() for marker in ("metrics.jsonl", "results.json", "phases")):
            return True
        if folder == root:
            break
    return False


def _candidates(config_dirs: Sequence[Path]) -> list[tuple[str, list[dict]]]:
    """(how to name it on a command line, its resolved experiments) for each readable config."""
    found: list[tuple[str, list[dict]]] = []
    for name in PRESETS:
        found.append((f"--preset {name}", _key(load_preset(name))))
    for folder in config_dirs:
        for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
            if _in_run_folder(path, folder):
                continue
            try:
                found.append((str(path), _key(load_configs(path))))
            except FedMKTError:  # not an experiment config (or a broken one): it cannot be the source
                continue
    return found


def reproduce_command(experiment_dir: Path, config_dirs: Sequence[Path]) -> Reproduction:
    """How to rerun the experiment in ``experiment_dir`` (a run folder, or one experiment of a suite's).

    Raises FedMKTError if the folder has no readable ``config.yaml``.
    """
    path = experiment_dir / "config.yaml"
    if not path.is_file():
        raise FedMKTError(f"{experiment_dir}: no config.yaml, so it is not a fedmkt run folder")
    configs = load_configs(path)
    if len(configs) != 1:
        raise FedMKTError(f"{path}: holds a suite; expected one experiment's folder")
    own = _key(configs)[0]
    parent = experiment_dir.parent
    suite = _key(load_configs(parent / "config.yaml")) if (parent / "config.yaml").is_file() else None
    in_suite = suite is not None and len(suite) > 1 and own in suite
    candidates = _candidates(config_dirs)
    out = original_run_dir(experiment_dir)  # an archived run reruns where it was made, not into the archive
    for source, experiments in candidates:
        if experiments == [own]:
            return Reproduction(f"fedmkt run {source} --out {out}")
    if in_suite:
        for source, experiments in candidates:
            if experiments == suite:
                return Reproduction(f"fedmkt run {source} --out {out.parent}",
                                    f"runs the whole suite; this experiment is its folder `{out}`")
    for source, experiments in candidates:
        if own in experiments:  # one experiment of a suite file: --only runs just it, into the folder given
            return Reproduction(f"fedmkt run {source} --only {own['name']} --out {out}")
    return Reproduction(f"fedmkt run {path} --out <new folder>",
                        "no config file matches this run's resolved config, so this reruns the copy the run "
                        "folder keeps")
