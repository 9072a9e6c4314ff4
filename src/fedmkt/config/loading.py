"""Reading configs: a YAML file, a suite or a packaged preset in; validated experiments (or one line) out.

Paths in a file (datasets, model and adapter folders) are taken from the file's folder; errors name the
file and the field, with did-you-mean for a mistyped key; the resolved config is dumped back as YAML.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fedmkt.config.experiment import ExperimentConfig
from fedmkt.config.overrides import Override
from fedmkt.errors import FedMKTError, shown, shown_text
from fedmkt.safe_yaml import load_yaml

PRESETS = ("default", "tiny", "tiny-domains")

MAX_CONFIG_BYTES = 1 << 20
"""A config file is a few KB; 1 MiB leaves room for any real suite and refuses a flood unread."""

def _describe(error: ErrorDetails) -> str:
    loc = shown_text(".".join(str(p) for p in error["loc"]) or "(top level)")
    if error["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    if error["type"] == "missing":
        return f"missing required key '{loc}'"
    msg = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:  # a check across fields: the message names them
        return msg
    got = error.get("input")
    if isinstance(got, bool) and error["type"] in ("literal_error", "string_type"):
        msg += "; YAML reads a bare yes/no/on/off as true/false, so quote the value"
    return f"'{loc}': {msg} (got {shown(got)})"


def _did_you_mean(error: ErrorDetails, model: type[BaseModel]) -> str:
    """Suggest the closest field name for an unknown key."""
    if error["type"] != "extra_forbidden":
        return ""
    target: Any = model
    for part in error["loc"][:-1]:
        if isinstance(part, int):
            continue
        field = target.model_fields.get(part) if isinstance(target, type) and issubclass(target, BaseModel) else None
        if field is None:
            return ""
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        target = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if target is None:
            return ""
    hint = difflib.get_close_matches(str(error["loc"][-1]), list(target.model_fields), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def parse_config(data: Any, source: str, overrides: Sequence[Override] = ()) -> ExperimentConfig:
    """Validate a mapping, with ``overrides`` applied; raise `FedMKTError` with one line naming ``source`` and the
    field (and the override, when the field is one)."""
    if not isinstance(data, dict):
        raise FedMKTError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    for override in overrides:
        data = override.applied(data, source)
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        blamed = [o.text for o in overrides if tuple(first["loc"][:len(o.path)]) == o.path]
        where = f"{source}, override {shown(blamed[-1])}" if blamed else source
        raise FedMKTError(f"{where}: {_describe(first)}{_did_you_mean(first, ExperimentConfig)}{more}") from exc


def _merge(base: Any, override: Any) -> Any:
    """Deep-merge two YAML mappings (``override`` wins); anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: _merge(base[k], v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return override


def parse_configs(text: str, source: str, overrides: Sequence[Override] = ()) -> list[ExperimentConfig]:
    """Validate YAML text holding one experiment, or a suite; ``overrides`` apply to each experiment.

    A suite is a mapping with ``experiments:`` (a list of experiment configs) and optional
    ``defaults:`` deep-merged under each of them, so shared settings are written once.
    """
    data = load_yaml(text, source)
    if data is None:
        raise FedMKTError(f"{source}: the file is empty; expected an experiment config")
    if not (isinstance(data, dict) and "experiments" in data):
        return [parse_config(data, source, overrides)]
    unknown = set(data) - {"experiments", "defaults"}
    if unknown:
        raise FedMKTError(f"{source}: unknown key {shown(sorted(map(str, unknown))[0])} in a suite; "
                          "expected experiments, defaults")
    experiments, defaults = data["experiments"], data.get("defaults") or {}
    if not isinstance(experiments, list) or not experiments:
        raise FedMKTError(f"{source}: 'experiments' must be a non-empty list of experiment configs")
    configs = [parse_config(_merge(defaults, e), f"{source} (experiments.{i})", overrides)
               for i, e in enumerate(experiments)]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise FedMKTError(f"{source}: the experiments of a suite need distinct 'name's, got {shown(names)}")
    return configs


def _read(path: Path) -> str:
    """The file's text; at most :data:`MAX_CONFIG_BYTES` bytes are read, so a flood is refused unread."""
    if not path.is_file():
        raise FedMKTError(f"config file not found: {path}")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise FedMKTError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise FedMKTError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; expected an experiment config "
                          "(a few KB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FedMKTError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


@contextlib.contextmanager
def _looking_up(source: Path, field: str, value: str) -> Iterator[None]:
    """A path the system cannot look up (a name too long, a NUL byte) becomes a one-line error."""
    try:
        yield
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FedMKTError(f"{source}: '{field}': cannot look up the path {shown(value)} ({reason}); expected "
                          "an existing file or folder") from None


def _resolve_task_path(task: str, field: str, path: Path) -> str:
    """A ``task:`` (or a domain's) that is a dataset path becomes absolute, relative to the config file's folder.

    So a config and its data can move together, and the run folder's resolved ``config.yaml``
    (what ``--resume`` reads) still finds the data.
    """
    from fedmkt.data.tasks.local import looks_like_path, resolve_task_path  # only for path-like tasks

    if not looks_like_path(task):
        return task
    with _looking_up(path, field, task):
        resolved = resolve_task_path(task, path.parent)
        found = resolved.exists()
    if not found:
        raise FedMKTError(f"{path}: '{field}': dataset not found at {shown_text(str(resolved), 400)} (a relative "
                          "path is taken from the config file's folder); expected a .jsonl file or a folder "
                          "holding train.jsonl")
    return str(resolved)


def _resolve_model_path(model: str, base: Path) -> str:
    """A ``model:`` folder as an absolute path, relative paths taken from the config file's folder ``base``.

    As with ``task:``: a config and its models can move together, and ``--resume`` finds them from
    anywhere. ``./x``, ``../x`` and ``~/x`` are always paths; ``org/name`` is a path only when that
    folder exists next to the config (else it stays a hub id, or a folder under the working directory).
    """
    from fedmkt.data.tasks.local import resolve_task_path  # the same rule as for dataset paths

    if Path(model).is_absolute():
        return model
    explicit = model.startswith(("./", "../", ".\\", "..\\", "~"))
    candidate = resolve_task_path(model, base)
    return str(candidate) if explicit or candidate.is_dir() else model


def load_configs(path: Path, overrides: Sequence[Override] = ()) -> list[ExperimentConfig]:
    """Read and validate a YAML file of one experiment or a suite (``---``-separated documents).

    Dataset paths (``task:``), model folders (``model:``) and adapter folders (``adapter:``) are resolved
    relative to the file (those given in ``overrides`` were made absolute from the working directory).
    """
    from fedmkt.data.tasks.local import resolve_task_path  # the same rule as for dataset paths

    configs = parse_configs(_read(path), str(path), overrides)
    for config in configs:
        if config.task is not None:
            config.task = _resolve_task_path(config.task, "task", path)
        for i, domain in enumerate(config.domains):
            domain.task = _resolve_task_path(domain.task, f"domains.{i}.task", path)
        for participant in (config.server, *config.clients):
            with _looking_up(path, "model", participant.model):
                participant.model = _resolve_model_path(participant.model, path.parent)
            if participant.adapter is not None:
                with _looking_up(path, "adapter", participant.adapter):
                    participant.adapter = str(resolve_task_path(participant.adapter, path.parent))
    return configs


def load_config(path: Path) -> ExperimentConfig:
    """Read and validate a YAML file holding exactly one experiment."""
    configs = load_configs(path)
    if len(configs) != 1:
        raise FedMKTError(f"{path}: holds {len(configs)} experiments; expected one")
    return configs[0]


def preset_text(name: str) -> str:
    """The YAML text of a preset shipped inside the package."""
    if name not in PRESETS:
        hint = difflib.get_close_matches(name, PRESETS, n=1)
        extra = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise FedMKTError(f"unknown preset '{name}'{extra}; known: {', '.join(PRESETS)}")
    return resources.files("fedmkt.configs").joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str, overrides: Sequence[Override] = ()) -> list[ExperimentConfig]:
    """The experiments of a shipped preset (``tiny`` is a suite of the paper's three scenarios)."""
    return parse_configs(preset_text(name), f"preset '{name}'", overrides)


def dump_config(config: ExperimentConfig) -> str:
    """The fully resolved config as YAML (every default written out)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def dump_configs(configs: list[ExperimentConfig]) -> str:
    """Resolved YAML of one experiment, or of a suite (as an ``experiments:`` list)."""
    if len(configs) == 1:
        return dump_config(configs[0])
    return yaml.safe_dump({"experiments": [c.model_dump(mode="json") for c in configs]}, sort_keys=False)
