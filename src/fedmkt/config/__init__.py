"""Experiment configuration: one YAML file, validated by pydantic, every field documented.

A config names the task, the server's LLM, the clients' SLMs, how the data is split, how
each side trains, and which methods (the paper's names) to run. Unknown keys are errors,
so a typo never silently falls back to a default. ``load_config`` turns any validation
failure into one line naming the file and the field.

YAML is read defensively: a file over :data:`MAX_CONFIG_BYTES` is refused unread, and a
document whose aliases would expand past a bound (an "alias bomb": a few lines of nested
anchors that stand for gigabytes) or that nests too deep is refused before anything is
expanded (``fedmkt.safe_yaml``). Errors echo user values through ``fedmkt.errors.shown``, so an
error line stays short whatever the input.

The parts, one idea each: :mod:`~fedmkt.config.sections` (each section's fields),
:mod:`~fedmkt.config.experiment` (the whole experiment and its cross-field checks),
:mod:`~fedmkt.config.overrides` (``KEY=VALUE`` from the command line) and
:mod:`~fedmkt.config.loading` (files, suites, presets, errors, dumping).
"""

from fedmkt.config.experiment import METHODS, ExperimentConfig, check_domains, default_methods
from fedmkt.config.loading import (
    MAX_CONFIG_BYTES,
    PRESETS,
    dump_config,
    dump_configs,
    load_config,
    load_configs,
    load_preset,
    parse_config,
    parse_configs,
    preset_text,
)
from fedmkt.config.overrides import Override, parse_override, parse_overrides
from fedmkt.config.sections import (
    TRACKERS,
    DataConfig,
    DomainConfig,
    EvalConfig,
    FedMKTConfig,
    LoraConfig,
    ParticipantConfig,
    PrivacyConfig,
    RuntimeConfig,
    TrackingConfig,
    TrainConfig,
)

__all__ = [
    "MAX_CONFIG_BYTES", "METHODS", "PRESETS", "TRACKERS", "DataConfig", "DomainConfig", "EvalConfig",
    "ExperimentConfig", "FedMKTConfig", "LoraConfig", "Override", "ParticipantConfig", "PrivacyConfig",
    "RuntimeConfig", "TrackingConfig", "TrainConfig", "check_domains", "default_methods", "dump_config",
    "dump_configs", "load_config", "load_configs", "load_preset", "parse_config", "parse_configs",
    "parse_override", "parse_overrides", "preset_text",
]
