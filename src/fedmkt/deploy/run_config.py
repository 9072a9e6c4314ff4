"""The run config ``fedmkt deploy app`` / ``local`` write, checked as the ServerApp will check it.

A Flower app folder is written on one day and run with ``flwr run`` later; whatever the ServerApp
would refuse (an unknown method, an experiment that does not list its rows, a missing client key,
more ``min-clients`` than clients, data too small for the sizes asked) should stop the command
that wrote it, naming that command's flag, not a run-config key minutes into a Flower run. So
:func:`checked_run_config` runs the ServerApp's own checks (``Settings.from_run_config``,
``pick_variant``, ``client_keys``) and the in-process runner's preflight on the experiment, and
stores every path absolute: the ServerApp reads them from its own working folder, not the caller's.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from fedmkt.config import ExperimentConfig, parse_configs
from fedmkt.deploy.flower.identity import client_keys
from fedmkt.deploy.flower.settings import DEFAULTS, Settings, pick_variant
from fedmkt.deploy.flower.task import experiment_text
from fedmkt.errors import FedMKTError, shown

PRESET_DEFAULT_NAMES = {"preset:tiny": "tiny-heterogeneous"}
"""The experiment a preset suite runs when ``--experiment-name`` is not given."""

RunConfig = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class CheckedRunConfig:
    """A run config the ServerApp will accept, and the experiment it runs."""

    values: RunConfig
    config: ExperimentConfig


def as_flags(error: FedMKTError) -> FedMKTError:
    """The ServerApp's message with each run-config key named as the ``fedmkt deploy`` flag that sets it."""
    text = str(error).replace("run config: ", "")
    for key in DEFAULTS:
        text = (text.replace(f"run config {key!r}", f"--{key}").replace(f"'{key} = true'", f"--{key}")
                .replace(f"{key!r}", f"--{key}"))
    return FedMKTError(text)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path else ""


def experiment_source(experiment: str) -> str:
    """``preset:<name>`` as given; a file as its absolute path (the ServerApp resolves from its own folder)."""
    return experiment if experiment.startswith("preset:") else _absolute(experiment)


def choose_experiment(configs: list[ExperimentConfig], name: str, source: str) -> ExperimentConfig:
    """The experiment ``--experiment-name`` names; without a name, the file's only one (or a preset's default)."""
    names = [c.name for c in configs]
    if not name:
        if len(configs) == 1:
            return configs[0]
        name = PRESET_DEFAULT_NAMES.get(source, "")
        if not name:
            raise FedMKTError(f"--experiment-name: {source} holds {len(configs)} experiments ({', '.join(names)}); "
                              "name the one to run")
    if name not in names:
        hint = difflib.get_close_matches(name, names, n=1)
        raise FedMKTError(f"--experiment-name {shown(name)}: no such experiment in {source}"
                          + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; it holds {', '.join(names)}")
    return configs[names.index(name)]


def _relative_paths(config: ExperimentConfig, source: str) -> None:
    """A relative ``task:``, ``model:`` or ``adapter:`` path would be read from the ServerApp's folder, not the
    file's."""
    base = Path(source).parent
    participants = [("server", config.server), *((f"clients[{i}]", c) for i, c in enumerate(config.clients))]
    fields = [*config.task_fields(), *((f"{name}.model", p.model) for name, p in participants),
              *((f"{name}.adapter", p.adapter) for name, p in participants if p.adapter)]
    for field, value in fields:
        path = Path(value)
        if path.is_absolute() or value.startswith("~"):
            continue
        if value.startswith((".", "..")) or value.endswith((".jsonl", ".json")) or (base / path).exists():
            raise FedMKTError(f"--experiment {source}: '{field}' is the relative path {shown(value)}; the ServerApp "
                              "reads it from its own working folder: write it as an absolute path")


def checked_run_config(
    *, experiment: str, experiment_name: str, method: str, out: str, min_clients: int, timeout: float,
    client_keys_folder: str = "", trust_client_names: bool = False, keys_required: bool = True,
    show_progress: bool = False,
) -> CheckedRunConfig:
    """The run config for these flag values, after every check the ServerApp would make at its start.

    ``keys_required=False`` skips the client-keys check (``deploy local`` makes and names the keys
    itself). One-line `FedMKTError` naming the flag (or the experiment's field) on the first failure.
    """
    from fedmkt.runners.preflight import preflight

    source = experiment_source(experiment)
    try:
        text = experiment_text(source)
    except FedMKTError as error:
        raise as_flags(error) from None
    config = choose_experiment(parse_configs(text, source), experiment_name, source)
    values: RunConfig = {
        "experiment": source, "experiment-name": config.name, "method": method, "out": _absolute(out),
        "min-clients": min_clients, "timeout": timeout, "client-keys": _absolute(client_keys_folder),
        "trust-client-names": trust_client_names,
    }
    try:
        settings = Settings.from_run_config(values, run_id=0)
        pick_variant(config, method)
        if keys_required:
            client_keys(settings.client_keys, settings.trust_client_names, [c.name for c in config.clients],
                        config.name)
    except FedMKTError as error:
        raise as_flags(error) from None
    if min_clients > len(config.clients):
        raise FedMKTError(f"--min-clients {min_clients}: experiment {config.name!r} has {len(config.clients)} "
                          f"client(s), so every round would stop; expected at most {len(config.clients)}")
    if not source.startswith("preset:"):
        _relative_paths(config, source)
    try:
        preflight(config, show_progress=show_progress, in_process=False)  # each node holds its own model
    except FedMKTError as error:
        raise FedMKTError(f"--experiment {source} ({config.name}): {error}") from None
    return CheckedRunConfig(values, config)
