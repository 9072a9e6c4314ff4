"""A model card (``README.md``) for each adapter a run keeps, so ``push_to_hub`` publishes what it is.

peft's ``save_pretrained`` writes a template card whose every field says "More Information
Needed". An adapter from a run has all of that information in the run folder: the base model and
the participant (``config.yaml``), the method and round (its folder under ``adapters/``), the data
sizes (``metrics.jsonl``'s ``data_split``), the scores with their 95% intervals
(``results.json``). :func:`adapter_card` renders one card (Hugging Face's card format through
``huggingface_hub.ModelCard``: YAML metadata with ``base_model``, ``library_name: peft`` and the
scores as ``model-index`` results); :func:`write_adapter_cards` writes one into every adapter
folder of a finished run. Adapter folders are ``adapters/<method>/<participant>`` (baselines) and
``adapters/<phase>/round-<r>/<participant>`` (federated methods: the phase ``FedMKT`` holds the
adapters whose rows are ``FedMKT-SLM`` and ``FedMKT-LLM``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fedmkt.assets.registry import MODEL_ASSETS
from fedmkt.config import ExperimentConfig, ParticipantConfig, load_configs
from fedmkt.io import atomic_write_text
from fedmkt.report.events import EventLog
from fedmkt.report.results import ResultRow, read_results

CARD = "README.md"
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

_METHODS = {
    "Standalone": "fine-tuned on its own private data only (baseline)",
    "Centralized-LLM": "the server's LLM fine-tuned on every client's private data pooled (baseline)",
    "FedMKT-SLM": "a client's SLM after federated mutual knowledge transfer (FedMKT)",
    "FedMKT-LLM": "the server's LLM after federated mutual knowledge transfer (FedMKT)",
    "FedMKT-SLM-FedAvg": "a client's SLM after FedMKT with FedAvg of the client adapters",
    "FedMKT-LLM-FedAvg": "the server's LLM after FedMKT with FedAvg of the client adapters",
    "LLM2SLM": "a client's SLM distilled from the frozen server LLM (one-way baseline)",
    "FedAvg": "a client's SLM after plain FedAvg of LoRA adapters (baseline)",
}


def fedmkt_version() -> str:
    try:
        return version("fedmkt")
    except PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "unknown"


def phase_of(method: str) -> str:
    """The federated phase (``adapters/<phase>/``) whose rows include ``method`` (``FedMKT-SLM-FedAvg`` ->
    ``FedMKT-FedAvg``): rows name the side (SLM, LLM), phases do not."""
    return method.replace("-SLM", "").replace("-LLM", "")


@dataclass(frozen=True)
class AdapterFacts:
    """What one adapter's card says."""

    base_model: str
    method: str
    participant: str
    role: str  # "llm" (the server's) or "slm" (a client's)
    task: str
    data: dict[str, int]  # public / private (this participant's, or pooled) / eval examples
    rounds: int | None  # the run's rounds, for a federated method
    round: int | None  # the round this adapter is from
    scores: list[ResultRow]
    seed: int
    run_name: str


def _base_model_line(name: str) -> str:
    if name in MODEL_ASSETS:
        return f"`{name}`: fedmkt's packaged {MODEL_ASSETS[name].description}"
    if name.startswith("tiny-"):
        return f"`{name}`: a random-init tiny model fedmkt builds from its name and the run's seed (tests only)"
    return f"`{name}`"


def _metadata_base(name: str) -> str | None:
    """``base_model`` metadata takes only a hub id (a packaged or tiny model is not on the hub as trained on)."""
    return name if _HUB_ID.match(name) and not Path(name).exists() else None


def _metric(row: ResultRow, task: str) -> str:
    """The metric, named with its domain where the run scores several (a domain federation)."""
    return row.metric if row.task == task else f"{row.task} {row.metric}"


def adapter_card(facts: AdapterFacts) -> str:
    """The card's text: metadata, what the adapter is, data, scores with intervals, how to load and reproduce."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData  # the hub's card format, metadata checked

    f = facts
    evals = [EvalResult(task_type="text-generation", dataset_type=r.task, dataset_name=r.task,  # a domain's own
                        metric_type=r.metric, metric_value=round(r.value, 2),
                        metric_name=f"{r.metric} (95% CI {r.ci_low:.1f}-{r.ci_high:.1f}, n={r.n})")
             for r in f.scores]
    data = ModelCardData(
        base_model=_metadata_base(f.base_model), library_name="peft",
        tags=["fedmkt", "lora", "federated-learning", "knowledge-distillation", f.method],
        model_name=f"{f.run_name} {f.method} {f.participant}", eval_results=evals or None,
    )
    who = "the server's LLM" if f.role == "llm" else "a client's SLM"
    when = f"after round {f.round} of {f.rounds}" if f.round is not None else "after training"
    rows = [("Base model", _base_model_line(f.base_model)),
            ("Method", f"{f.method}: {_METHODS.get(f.method, f.method)}"),
            ("Participant", f"{f.participant} ({who})"),
            ("Task", f"`{f.task}`"),
            ("Data", ", ".join(f"{k} {v}" for k, v in f.data.items()) or "not recorded"),
            ("Adapter", when),
            ("Seed", str(f.seed)),
            ("fedmkt", fedmkt_version())]
    table = "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    scores = ("| Metric | Value | 95% CI | n |\n|---|---:|---:|---:|\n"
              + "".join(f"| {_metric(r, f.task)} | {r.value:.1f} | {r.ci_low:.1f}-{r.ci_high:.1f} | {r.n} |\n"
                        for r in f.scores)
              if f.scores else "Not scored at this point of the run (see `fedmkt.eval_every`).\n")
    data_note = ("Data in examples: private, what this participant trained on (the server's Centralized-LLM: every "
                 "client's, pooled); public, the shared set on which the participants exchange next-token "
                 "distributions (its answers trained on only where `fedmkt.public_sft` is on); eval, the examples "
                 "scored. A set this adapter never read is left out.")
    body = f"""
# {f.method} adapter of {f.participant} on {f.task}

A LoRA adapter (peft format) trained by fedmkt, an implementation of FedMKT
([Fan et al., 2024](https://arxiv.org/abs/2406.02224)), in run `{f.run_name}`.

{table}
{data_note}

## Scores

{scores}
## Use

```python
from fedmkt.api import load_adapter

model, tokenizer = load_adapter("<run folder>", "{f.method}", "{f.participant}")
```

The base model is rebuilt from the run's `config.yaml`; with a hub base model, peft's
`PeftModel.from_pretrained(base, "<this folder or repo>")` loads it too.

## Reproduce

`fedmkt run config.yaml --out <new folder>` with the run folder's `config.yaml` (every setting, the seed
included) gives this adapter again on the same hardware and library versions.
"""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))  # no template engine: user text stays literal


def _participants(config: ExperimentConfig) -> dict[str, tuple[ParticipantConfig, str, int | None]]:
    """participant name -> (its config entry, role, client index or None for the server)."""
    out: dict[str, tuple[ParticipantConfig, str, int | None]] = {config.server.name: (config.server, "llm", None)}
    out.update({c.name: (c, "slm", i) for i, c in enumerate(config.clients)})
    return out


def _data_sizes(run_dir: Path, config: ExperimentConfig, index: int | None) -> dict[str, int]:
    """public / private / eval examples, from the run's ``data_split`` event (else the config's sizes)."""
    events = [e for e in EventLog(run_dir / "metrics.jsonl").read() if e.get("event") == "data_split"] \
        if (run_dir / "metrics.jsonl").is_file() else []
    if events:
        split = events[-1]
        private = split.get("private", [])
        mine = sum(private) if index is None else private[index] if index < len(private) else None
        sizes = {"public": split.get("public"), "private": mine, "eval": split.get("eval")}
    else:
        d = config.data
        sizes = {"public": d.public_size, "private": d.private_size, "eval": d.eval_size}
    return {k: int(v) for k, v in sizes.items() if isinstance(v, int)}


def trained_on(sizes: dict[str, int], method: str, role: str, public_sft: bool) -> dict[str, int]:
    """The sizes of the sets this adapter saw: a card that lists a set the method never reads misleads.

    Standalone and FedAvg read private data alone; FedMKT's LLM the public set alone; Centralized-LLM
    pools the private sets and adds the public answers only where the federation trains on them
    (``fedmkt.public_sft``); FedMKT's SLMs and LLM2SLM read both.
    """
    drop = set()
    if method in ("Standalone", "FedAvg") or (method == "Centralized-LLM" and not public_sft):
        drop.add("public")
    if role == "llm" and method != "Centralized-LLM":
        drop.add("private")
    return {k: v for k, v in sizes.items() if k not in drop}


def _adapter_folders(run_dir: Path) -> list[Path]:
    return sorted(p.parent for p in (run_dir / "adapters").glob("**/adapter_config.json"))


def write_adapter_cards(run_dir: Path) -> list[Path]:
    """A card in every adapter folder of the finished run in ``run_dir`` (one experiment); the cards written."""
    if not (run_dir / "adapters").is_dir() or not (run_dir / "config.yaml").is_file():
        return []
    configs = load_configs(run_dir / "config.yaml")
    if len(configs) != 1:
        return []  # a suite's folder: each experiment's own folder gets its cards
    config = configs[0]
    rows = read_results(run_dir / "results.json") if (run_dir / "results.json").is_file() else []
    people = _participants(config)
    written = []
    for folder in _adapter_folders(run_dir):
        parts = folder.relative_to(run_dir / "adapters").parts
        federated = len(parts) == 3 and parts[1].startswith("round-")
        participant = parts[-1]
        owner = participant if participant in people else config.clients[0].name if config.clients else ""
        if owner not in people:
            continue
        spec, role, index = people[owner]
        round_ = int(parts[1].removeprefix("round-")) if federated else None
        matches = [r for r in rows if r.participant == owner and r.round == round_
                   and (phase_of(r.method) == parts[0] if federated else r.method == parts[0])]
        method = matches[0].method if matches else _unscored_method(parts[0], role, federated)
        sizes = trained_on(_data_sizes(run_dir, config, index), method, role, config.fedmkt.public_sft)
        facts = AdapterFacts(spec.model, method, participant, role, config.task_label,
                             sizes, config.fedmkt.rounds if federated else None,
                             round_, [r for r in matches if r.method == method], config.seed, config.name)
        atomic_write_text(folder / CARD, adapter_card(facts))
        written.append(folder / CARD)
    return written


def _unscored_method(name: str, role: str, federated: bool) -> str:
    """The row name of an adapter that has no scores: ``FedMKT`` + client -> ``FedMKT-SLM``."""
    if not federated or name in ("LLM2SLM", "FedAvg"):
        return name
    side = "-LLM" if role == "llm" else "-SLM"
    return name.replace("FedMKT", "FedMKT" + side, 1)

