"""The same core objects the in-process runner builds, built on one side of a Flower federation.

Both apps read the same experiment config (the server sends its YAML in every message, so a
node needs nothing but its node config) and build models, LoRA adapters, the data split,
``fedmkt.core.Server`` and ``fedmkt.core.Client`` with the in-process runner's own functions
(``fedmkt.setup``, ``fedmkt.runners.split``), so the same seed gives the same
weights, data and training order.

Node config keys (``flower-supernode --node-config``):

- ``client`` (required): the client's name in the experiment (``client-1``, ...);
- ``model``: its model, a safety check: it must equal the experiment's entry;
- ``partition``: which private partition of the experiment's split it holds
  (default: its position in the experiment's client list; in a domain federation a partition is
  that client's share of each domain its ``domains`` list names);
- ``data``: a JSON-lines file of private examples (``uid``, ``prompt``, ``target`` and optionally
  ``choices``, ``gold``, ``references``, ``group``) used instead of a partition;
- ``cache``: the node's folder for its adapter, per-round state and alignment caches
  (default ``$FEDMKT_HOME/flower/<client>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from fedmkt.assets.registry import fedmkt_home
from fedmkt.config import ExperimentConfig, ParticipantConfig, parse_configs, preset_text
from fedmkt.core.server import Server
from fedmkt.data.example import Example
from fedmkt.data.partition import FederatedSplit
from fedmkt.data.tasks.local import load_examples
from fedmkt.errors import FedMKTError
from fedmkt.report.events import EventLog
from fedmkt.runners.split import build_split, infer_scenario
from fedmkt.setup import roles
from fedmkt.setup.context import RunContext

NodeConfig = Mapping[str, str | int | float | bool]


def experiment_text(source: str) -> str:
    """YAML text of ``preset:<name>`` or of a file path (the run config's ``experiment``)."""
    if source.startswith("preset:"):
        return preset_text(source.removeprefix("preset:"))
    path = Path(source).expanduser()
    if not path.is_file():
        raise FedMKTError(f"run config 'experiment': {source!r} is neither preset:<name> nor an existing YAML file")
    return path.read_text(encoding="utf-8")


def pick_experiment(text: str, name: str, source: str) -> ExperimentConfig:
    """The experiment called ``name`` in YAML ``text`` (a single experiment needs no name)."""
    configs = parse_configs(text, source)
    if not name and len(configs) == 1:
        return configs[0]
    by_name = {c.name: c for c in configs}
    if name not in by_name:
        raise FedMKTError(f"{source}: no experiment named {name!r}; it holds {sorted(by_name)} "
                          "(set the run config key 'experiment-name')")
    return by_name[name]


def run_context(config: ExperimentConfig, run_dir: Path, split: FederatedSplit | None = None) -> RunContext:
    """A ``RunContext`` like the in-process runner's: events into ``run_dir/metrics.jsonl``, no bars.

    Sets torch's threads from ``runtime.threads`` as ``run_experiment`` does.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    if config.runtime.threads:
        torch.set_num_threads(config.runtime.threads)
    return RunContext(config, split if split is not None else build_split(config), run_dir,
                      EventLog(run_dir / "metrics.jsonl"),
                      scenario=infer_scenario(config))


def build_server(ctx: RunContext, alignment_cache: Path | None = None, frozen: bool = False) -> Server:
    """The server's LLM over the public set, with LoRA or ``frozen`` (LLM2SLM), as ``FederatedPhase`` builds it."""
    spec = ctx.config.server
    model, tokenizer = ctx.load(spec) if frozen else ctx.with_lora(spec)
    return roles.build_server(spec, model, tokenizer, ctx.split.public, ctx.config.fedmkt, frozen=frozen,
                              alignment_cache=alignment_cache)


def client_spec(config: ExperimentConfig, node_config: NodeConfig) -> tuple[int, ParticipantConfig]:
    """The experiment's entry (and its index) for the client this node's config names."""
    name = str(node_config.get("client", ""))
    names = [c.name for c in config.clients]
    if name not in names:
        raise FedMKTError(f"node config 'client': {name!r} is not a client of experiment {config.name!r} "
                          f"(expected one of {names})")
    index = names.index(name)
    spec = config.clients[index]
    model = node_config.get("model")
    if model is not None and str(model) != spec.model:
        raise FedMKTError(f"node config 'model': {model!r}, but experiment {config.name!r} gives client "
                          f"{name!r} the model {spec.model!r}")
    return index, spec


def private_examples(config: ExperimentConfig, split: FederatedSplit, index: int,
                     node_config: NodeConfig) -> list[Example]:
    """The node's private data: its ``data`` file, else partition ``partition`` (default ``index``: the client's
    own, from its domains in a domain federation)."""
    if "data" in node_config:  # the format of a task: file (docs/data.md), so one file serves both runners
        try:
            return load_examples(Path(str(node_config["data"])), f"{node_config.get('client', 'node')}/private")
        except FedMKTError as error:
            raise FedMKTError(f"node config 'data': {error}") from None
    part = node_config.get("partition", index)
    if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part < len(split.private):
        raise FedMKTError(f"node config 'partition': {part!r}, expected an integer in [0, {len(split.private)})")
    return split.private[part]


def node_cache(node_config: NodeConfig) -> Path:
    """The node's cache folder (``cache`` key, default ``$FEDMKT_HOME/flower/<client>``)."""
    default = fedmkt_home() / "flower" / str(node_config.get("client", "client"))
    return Path(str(node_config.get("cache", default))).expanduser()
