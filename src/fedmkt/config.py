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
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import ErrorDetails

from fedmkt.errors import FedMKTError, shown, shown_text
from fedmkt.safe_yaml import load_yaml

METHODS = (
    "LLM-ZS", "SLM-ZS", "Standalone", "Centralized-LLM",
    "FedMKT-SLM", "FedMKT-LLM", "FedAvg", "LLM2SLM", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg",
)
"""Methods fedmkt runs, named as in the paper. ``FedMKT-SLM`` and ``FedMKT-LLM`` are the two sides
of one FedMKT run (asking for either runs it); likewise the two ``-FedAvg`` variants."""

PRESETS = ("default", "tiny", "tiny-domains")

MAX_CONFIG_BYTES = 1 << 20
"""A config file is a few KB; 1 MiB leaves room for any real suite and refuses a flood unread."""


def default_methods(n_clients: int, same_model: bool) -> list[str]:
    """Every method that fits the scenario: the paper's table for that setting."""
    methods = ["LLM-ZS", "SLM-ZS", "Standalone", "Centralized-LLM", "FedMKT-SLM", "FedMKT-LLM"]
    if n_clients == 1:
        methods.append("LLM2SLM")
    elif same_model:
        methods += ["FedAvg", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"]
    return methods


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraConfig(_Strict):
    """LoRA adapter settings (peft)."""

    r: int = Field(8, ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; null finds the attention projections automatically."
    )


class TrainConfig(_Strict):
    """One side's optimiser and schedule (AdamW + cosine with warmup)."""

    lr: float = Field(2e-4, gt=0, le=1.0, description="Peak learning rate.")
    epochs: int = Field(1, ge=1, le=1000, description="Passes over the training set per phase.")
    batch_size: int = Field(8, ge=1, description="Examples per forward pass.")
    grad_accum: int = Field(1, ge=1, description="Forward passes per optimiser step.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW decoupled weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas.")
    warmup_ratio: float = Field(0.008, ge=0, lt=1, description="Fraction of steps spent warming up.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    max_length: int = Field(256, ge=8, description="Longest sequence in tokens (prompt truncated on the left).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (null: no cap).")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError("each beta must be in [0, 1)")
        return v


class PrivacyConfig(_Strict):
    """DP-SGD on a client's private training (Opacus; docs/privacy.md): every example's gradient clipped to
    ``max_grad_norm``, Gaussian noise, Poisson-sampled batches, and an accountant over every round.

    Give ``target_epsilon`` (the noise is computed for the run's whole schedule) or ``noise_multiplier`` (the
    epsilon it reaches is reported); with both, the noise is given and the run is refused if its schedule would
    spend more than ``target_epsilon``.
    """

    target_epsilon: float | None = Field(
        None, gt=0, description="Epsilon the client may spend over the whole run (at delta); sets the noise.")
    noise_multiplier: float | None = Field(
        None, gt=0, description="Noise standard deviation over max_grad_norm (null: computed from target_epsilon).")
    delta: float = Field(1e-5, gt=0, lt=1, description="The delta of (epsilon, delta); must be below 1 / private size.")
    max_grad_norm: float | None = Field(
        None, gt=0, validate_default=True,
        description="Each example's gradient is clipped to this L2 norm; the noise is scaled to it (required).")
    accountant: Literal["rdp", "prv"] = Field("rdp", description="Opacus's accountant: rdp (Renyi DP) or prv.")
    noise_seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="Seeds the sampling and noise for reproducible experiments only (anyone "
        "who knows it can remove the noise); null: a secret each client draws from the OS and keeps.")

    @field_validator("max_grad_norm")
    @classmethod
    def _clipping_bound(cls, v: float | None) -> float:
        if v is None:
            raise ValueError("missing: DP-SGD's noise is scaled to the per-example clipping bound; expected a norm > 0")
        return v

    @model_validator(mode="after")
    def _epsilon_or_noise(self) -> PrivacyConfig:
        if self.target_epsilon is None and self.noise_multiplier is None:
            raise ValueError("expected target_epsilon (the noise is computed for the run's schedule) or "
                             "noise_multiplier")
        return self


class ParticipantConfig(_Strict):
    """A model that takes part: the server's LLM or one client's SLM."""

    name: str = Field("", description="Label in tables and folders (default: server / client-N).")
    model: str = Field(..., min_length=1, description="Short name, tiny-<arch>-<tok>, local folder or hub id.")
    lora: LoraConfig = Field(default_factory=LoraConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    domains: list[str] = Field(
        default_factory=list, description="A client's private data: the run's domains it draws from (names of "
        "the top-level domains list; only with domains:).",
    )
    adapter: str | None = Field(
        None, description="A LoRA adapter folder (peft format, e.g. a run's adapters/Centralized-LLM/server) merged "
        "into the model before anything else: the participant starts from what it learned (null: the model alone).",
    )
    privacy: PrivacyConfig | Literal[False] | None = Field(
        None, description="A client's DP-SGD, replacing the top-level privacy: section (null: that section; "
        "off: none).",
    )

    @field_validator("privacy", mode="wrap")
    @classmethod
    def _privacy_off(cls, v: object, handler: Any) -> object:
        """A section is validated as one, so an error names ``privacy.<field>``, not a branch of the union."""
        if v is None or v is False or isinstance(v, PrivacyConfig):
            return v
        if v is True:
            raise ValueError("YAML reads on/yes/true as true; expected a privacy section, off, or null")
        return PrivacyConfig.model_validate(v)


class DataConfig(_Strict):
    """How the task's training data is split between the public set and the clients."""

    public_size: int | None = Field(None, ge=1, description="Public samples (null: a fifth of train).")
    private_size: int | None = Field(None, ge=1, description="Private samples per client (null: a fifth).")
    eval_size: int | None = Field(200, ge=1, description="Evaluation samples (null: the whole eval split).")
    dev_size: int = Field(0, ge=0, description="Held-out train slice for tuning, never used for training.")
    partition: Literal["iid", "dirichlet"] = Field("iid", description="How private data is spread.")
    dirichlet_alpha: float = Field(0.5, gt=0, description="Concentration for the Dirichlet partition.")


class DomainConfig(_Strict):
    """One domain of a federation whose clients hold their own tasks (``domains:``, docs/data.md).

    Its training split gives the domain's share of the public set and the private data of each
    client that lists it; its eval split, the domain's eval set, on which every participant is scored.
    A size left null is the ``data:`` section's (null there: an even share of the domain's split).
    """

    task: str = Field(..., description="Task name (see `fedmkt tasks`), or a .jsonl file / folder of your own data.")
    public_size: int | None = Field(None, ge=0, description="This domain's public samples (null: data.public_size).")
    private_size: int | None = Field(
        None, ge=1, description="Private samples of each client that lists this domain (null: data.private_size)."
    )
    eval_size: int | None = Field(None, ge=1, description="This domain's evaluation samples (null: data.eval_size).")

    @property
    def label(self) -> str:
        """The domain's name: tables, clients' ``domains`` lists and score files use it."""
        from fedmkt.data.tasks.local import task_label

        return task_label(self.task)

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        return _known_task_name(v)


class FedMKTConfig(_Strict):
    """The federated rounds (paper section 3; defaults from the FATE-LLM examples unless noted)."""

    rounds: int = Field(5, ge=1, le=1000, description="Federated rounds.")
    top_k: int = Field(128, ge=1, description="Next-token distribution entries sent per scored position.")
    kd_weight: float = Field(0.1, ge=0.0, le=1.0, description="lambda: loss = (1-lambda)*SFT + lambda*KD.")
    temperature: float = Field(1.0, gt=0.0, description="Distillation temperature (the loss scales by T^2).")
    unmatched_weight: float = Field(
        1.0, ge=0.0, le=1.0,
        description="KD weight of positions with no 1:1 aligned teacher token (one-hot on the true token).",
    )
    eval_every: int = Field(
        1, ge=0, description="Score every N rounds (0: only after the last round). The last round is always scored."
    )
    public_batch_size: int = Field(16, ge=1, description="Batch size when computing public-set distributions.")
    train_private_each_round: bool = Field(
        True, description="Clients re-run SFT on their private data at the start of every round (step 1)."
    )
    public_sft: bool = Field(
        True, description="Both sides also train on the public set's gold answers (SFT); false: the public-set "
        "loss is KD alone (needs kd_weight 1 and unmatched_weight 0; DualMinCE still compares answer NLLs).",
    )
    kd_positions: Literal["answer", "all"] = Field(
        "answer", description="Positions sent and distilled: the answer's, or every position of the public "
        "sample, prompt included (docs/method.md: bytes for both).",
    )
    clients_per_round: int | float | None = Field(
        None, description="Clients sampled per round (FedMKT, FedAvg, LLM2SLM): a count (3), a fraction of the "
        "clients (0.1, at least one), or null: all. Drawn from the run's seed and the round; the others keep "
        "their adapters until drawn again.",
    )

    @field_validator("clients_per_round", mode="before")
    @classmethod
    def _not_a_yes(cls, v: object) -> object:
        if isinstance(v, bool):  # YAML's yes/no/on/off
            raise ValueError("expected a count of clients (1, 2, ...), a fraction in (0, 1], or null for all")
        return v

    @field_validator("clients_per_round")
    @classmethod
    def _count_or_fraction(cls, v: int | float | None) -> int | float | None:
        if (isinstance(v, int) and v < 1) or (isinstance(v, float) and not 0.0 < v <= 1.0):
            raise ValueError("expected a count of clients (1, 2, ...), a fraction in (0, 1], or null for all")
        return v

    @field_validator("public_sft")
    @classmethod
    def _public_loss_is_kd_alone(cls, v: bool, info: ValidationInfo) -> bool:
        kd, unmatched = info.data.get("kd_weight"), info.data.get("unmatched_weight")
        if not v and (kd != 1.0 or unmatched != 0.0):
            raise ValueError(
                f"false makes the public-set loss KD alone: set fedmkt.kd_weight to 1 (is {shown(kd)}) and "
                f"fedmkt.unmatched_weight to 0 (is {shown(unmatched)}), so no gold one-hot stands in at unaligned "
                "positions"
            )
        return v


class EvalConfig(_Strict):
    batch_size: int = Field(16, ge=1, description="Sequences per scoring batch.")
    max_new_tokens: int = Field(64, ge=1, description="Generation length cap for Rouge-L tasks.")
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples for the 95% interval.")
    split: Literal["eval", "dev"] = Field(
        "eval", description="Score on the eval set, or on the dev slice (data.dev_size) when tuning hyperparameters."
    )
    pmi_premise: str | None = Field(
        "Answer:", description="Multiple choice: the answer cue alone, for acc_pmi (domain-conditional PMI); "
        "null skips it.",
    )


class RuntimeConfig(_Strict):
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, ...; auto: cuda where available, else cpu")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: float32 on CPU, bfloat16 on GPUs that support it."
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads (null: torch's default).")
    autocast: Literal["off", "bfloat16", "auto"] = Field(
        "off", description="Mixed precision: bf16 matmuls, fp32 weights and losses (auto: where the hardware has bf16)."
    )
    share_base: bool = Field(
        True, description="Participants of a federated phase with the same model share one copy of its weights, "
        "each with its own LoRA adapter (false: a copy each; results are the same).",
    )

    @field_validator("autocast", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, v: object) -> object:
        """YAML 1.1 reads a bare ``off`` (or ``no``, ``false``) as false: that is ``off``."""
        if v is False:
            return "off"
        if v is True:
            raise ValueError("YAML reads on/yes/true as true; write bfloat16 or auto")
        return v


TRACKERS = ("tensorboard", "mlflow")
"""Where ``tracking.report_to`` can send a run's events, besides ``metrics.jsonl`` (``fedmkt.tracking``)."""


class TrackingConfig(_Strict):
    """Experiment trackers that get the run's events live, as Hugging Face's ``report_to``.

    They mirror ``metrics.jsonl`` and change nothing a run computes, so a resume may switch them on
    or off (the config's digest in ``run.json`` leaves this section out).
    """

    report_to: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=list,
        description="Trackers: tensorboard (run folder's tensorboard/), mlflow; 'all' or 'none' as in transformers "
        "(needs `pip install 'fedmkt[tracking]'`).",
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI (null: $MLFLOW_TRACKING_URI, else MLflow's default, a SQLite file "
        "mlflow.db in the working directory; no server needed).",
    )
    mlflow_experiment: str | None = Field(None, description="MLflow experiment (null: this experiment's name).")

    @field_validator("report_to", mode="before")
    @classmethod
    def _names(cls, v: object) -> object:
        """As transformers takes it: one name, a list, ``all`` or ``none``."""
        if v is None or v == "none" or v == ["none"]:
            return []
        if v == "all" or v == ["all"]:
            return list(TRACKERS)
        return [v] if isinstance(v, str) else v

    @field_validator("report_to")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class ExperimentConfig(_Strict):
    """A whole experiment."""

    name: str = Field("experiment", description="Shown in tables and the run folder.")
    seed: int = Field(0, ge=0, le=2**32 - 1,
                      description="Seeds the data split, LoRA init, shuffling and bootstrap (numpy takes 0 .. 2^32-1).")
    task: str | None = Field(
        None, description="Task name (see `fedmkt tasks`), or a .jsonl file / folder of your own data (docs/data.md); "
        "or, instead, domains:.",
    )
    domains: list[DomainConfig] = Field(
        default_factory=list, description="Instead of task: one entry per domain, each client holding the ones its "
        "domains: list names; the public set draws from every domain, every participant is scored on each.",
    )
    server: ParticipantConfig
    clients: list[ParticipantConfig] = Field(..., min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    fedmkt: FedMKTConfig = Field(default_factory=FedMKTConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    privacy: PrivacyConfig | None = Field(
        None, description="DP-SGD on every client's private training (a client's own privacy: replaces it; "
        "docs/privacy.md; needs `pip install 'fedmkt[privacy]'`).",
    )
    methods: list[str] | None = Field(
        None, description="Methods to run (default: every method that fits the scenario, see default_methods)."
    )

    @property
    def method_names(self) -> list[str]:
        """The methods to run: the file's list, or the scenario's defaults the validator filled in."""
        return self.methods or []

    @property
    def task_label(self) -> str:
        """The task as tables name it: a local dataset by its file stem or folder name, not its full path;
        a domain federation's domains joined by ``+``."""
        from fedmkt.data.tasks.local import task_label

        return task_label(self.task) if self.task is not None else "+".join(d.label for d in self.domains)

    def task_fields(self) -> list[tuple[str, str]]:
        """``(field, task)`` of every task the run reads: ``task``, or each domain's ``domains.<i>.task``."""
        if self.task is not None:
            return [("task", self.task)]
        return [(f"domains.{i}.task", d.task) for i, d in enumerate(self.domains)]

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str | None) -> str | None:
        return v if v is None else _known_task_name(v)

    @model_validator(mode="after")
    def _task_or_domains(self) -> ExperimentConfig:
        check_domains(self)
        return self

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for m in v:
            if m not in METHODS:
                hint = difflib.get_close_matches(m, METHODS, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise ValueError(f"unknown method {shown(m)}{extra}; known: {', '.join(METHODS)}")
        if len(set(v)) != len(v):
            raise ValueError("a method is listed twice")
        return v

    @model_validator(mode="after")
    def _methods_fit_the_scenario(self) -> ExperimentConfig:
        if self.methods is None:
            methods = default_methods(len(self.clients), len({c.model for c in self.clients}) == 1)
            private = any(self.client_privacy(c) for c in self.clients)  # no client bound covers a pooled model
            self.methods = [m for m in methods if not (private and m == "Centralized-LLM")]
        if "LLM2SLM" in self.methods and len(self.clients) != 1:
            raise ValueError("LLM2SLM is the one-to-one baseline: it needs exactly one client")
        fedavg = {"FedAvg", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"} & set(self.methods)
        if fedavg and len({c.model for c in self.clients}) != 1:
            raise ValueError(f"{sorted(fedavg)[0]} averages LoRA weights: every client needs the same model")
        if fedavg and len({c.lora.model_dump_json() for c in self.clients}) != 1:
            raise ValueError(f"{sorted(fedavg)[0]} averages LoRA weights: every client needs the same lora settings")
        if fedavg and len(self.clients) < 2:
            raise ValueError(f"{sorted(fedavg)[0]} needs at least two clients")
        return self

    @model_validator(mode="after")
    def _privacy_on_clients(self) -> ExperimentConfig:
        if self.server.privacy:
            raise ValueError("'server.privacy': the server trains on no private data of its own; expected privacy "
                             "on clients (or at the top level, for every client)")
        if "Centralized-LLM" in self.method_names and any(self.client_privacy(c) for c in self.clients):
            raise ValueError("'methods': Centralized-LLM pools every client's private data on the server, so no "
                             "client's DP bound applies to it (docs/privacy.md); expected it left out of a run with "
                             "privacy (compare with a run without)")
        return self

    def client_privacy(self, client: ParticipantConfig) -> PrivacyConfig | None:
        """The DP-SGD settings of ``client``: its own ``privacy``, else the top-level one; None: no DP."""
        if client.privacy is False:
            return None
        return client.privacy or self.privacy

    @model_validator(mode="after")
    def _sample_fits_the_clients(self) -> ExperimentConfig:
        per_round = self.fedmkt.clients_per_round
        if isinstance(per_round, int) and per_round > len(self.clients):
            raise ValueError(f"fedmkt.clients_per_round is {per_round}, but the experiment has {len(self.clients)} "
                             "client(s); expected at most that many (or a fraction)")
        return self

    @model_validator(mode="after")
    def _name_participants(self) -> ExperimentConfig:
        if not self.server.name:
            self.server.name = "server"
        for i, client in enumerate(self.clients, start=1):
            if not client.name:
                client.name = f"client-{i}"
        names = [c.name for c in self.clients] + [self.server.name]
        if len(set(names)) != len(names):
            raise ValueError(f"participant names must be unique, got {shown(names)}")
        return self


def _known_task_name(v: str) -> str:
    """``v`` if it is a task of `fedmkt tasks` or looks like a path to the user's own data; else a ValueError."""
    from fedmkt.data.tasks import task_names  # the registry reads no data
    from fedmkt.data.tasks.local import looks_like_path

    if looks_like_path(v) or v in task_names():
        return v
    hint = difflib.get_close_matches(v, task_names(), n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise ValueError(f"unknown task {shown(v)}{extra}; expected a task of `fedmkt tasks` or a path to your own "
                     f"data (./data.jsonl, ./folder/; docs/data.md)")


def check_domains(config: ExperimentConfig) -> None:
    """One of ``task`` and ``domains``; with domains, distinct ones and each client listing some of them.

    A ValueError names the field (``clients.1.domains``), so the one-line error says where to look.
    """
    from fedmkt.data.tasks import task_names  # the registry reads no data

    if (config.task is None) == (not config.domains):
        raise ValueError("set task (one task split among the clients) or domains (each client its own), "
                         "not both" if config.task is not None else "missing required key 'task' (or 'domains')")
    labels = [d.label for d in config.domains]
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise ValueError(f"'domains.{i}.task': {shown(label)} is already domains.{labels.index(label)}'s; "
                             "expected each domain once (a client may list several)")
    if config.server.domains:
        raise ValueError("'server.domains': the server holds no private data; expected domains on clients only")
    for i, client in enumerate(config.clients):
        where = f"'clients.{i}.domains'"
        if config.task is not None and client.domains:
            raise ValueError(f"{where}: a client's domains need the top-level domains: list instead of task")
        if config.task is None and not client.domains:
            raise ValueError(f"{where}: expected the domains this client's private data comes from (one or more "
                             f"of {', '.join(labels)})")
        for name in client.domains:
            if name not in labels:
                hint = difflib.get_close_matches(name, labels, n=1)
                extra = f" (did you mean '{hint[0]}'?)" if hint else ""
                known = " is a task, but not a domain of this run (add it to domains:)" if name in task_names() \
                    else f" is an unknown domain{extra}"
                raise ValueError(f"{where}: {shown(name)}{known}; expected one of the run's domains: "
                                 f"{', '.join(labels)}")
        if len(set(client.domains)) != len(client.domains):
            raise ValueError(f"{where}: a domain is listed twice")


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


@dataclass(frozen=True)
class Override:
    """``KEY=VALUE`` from the command line: a dotted path into an experiment and a YAML value.

    The path is checked against the config's fields when parsed (did-you-mean, as for a file's keys);
    the value is validated with the rest of the config, and an error there names the override.
    """

    text: str
    path: tuple[str | int, ...]
    value: Any

    def applied(self, data: dict, source: str) -> dict:
        """A copy of ``data`` with the value set at the path: missing sections are created, list items must exist."""
        out = copy.deepcopy(data)
        node: Any = out
        for i, part in enumerate(self.path[:-1]):
            child = node[part] if isinstance(part, int) else node.get(part)
            nxt = self.path[i + 1]
            if isinstance(nxt, int):
                if not isinstance(child, list) or not 0 <= nxt < len(child):
                    count = len(child) if isinstance(child, list) else 0
                    raise FedMKTError(f"override {shown(self.text)}: '{_dotted(self.path[:i + 1])}' has {count} "
                                      f"{'entry' if count == 1 else 'entries'} in {source}, so there is no item {nxt}")
            elif not isinstance(child, dict):  # a section the file leaves out (or writes as null)
                child = node[part] = {}
            node = child
        node[self.path[-1]] = self.value
        return out


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(map(str, path))


def _section(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The config section a field holds (a model, or a list of models: then True), or (None, False) for a value."""
    def model(candidate: Any) -> type[BaseModel] | None:
        return candidate if isinstance(candidate, type) and issubclass(candidate, BaseModel) else None

    for candidate in (annotation, *getattr(annotation, "__args__", ())):  # X, or X | None
        if getattr(candidate, "__origin__", None) is list:
            found = model(candidate.__args__[0])
            return (found, True) if found else (None, False)
        if model(candidate):
            return model(candidate), False
    return None, False


def _checked_path(text: str, parts: list[str]) -> tuple[str | int, ...]:
    """The override's key as a path into an experiment, refused in one line where no field is there."""
    path: list[str | int] = []
    target: type[BaseModel] | None = ExperimentConfig
    listed = False
    for part in parts:
        if listed:
            if not part.isdigit():
                raise FedMKTError(f"override {shown(text)}: '{_dotted(path)}' is a list; expected an item number "
                                  f"next, as in {_dotted(path)}.0.{part}")
            path.append(int(part))
            listed = False
            continue
        if target is None:
            raise FedMKTError(f"override {shown(text)}: '{_dotted(path)}' holds a value, not keys; set it whole, "
                              f"as in {_dotted(path)}=...")
        field = target.model_fields.get(part)
        if field is None:
            hint = difflib.get_close_matches(part, list(target.model_fields), n=1)
            extra = f" (did you mean '{_dotted([*path, hint[0]])}'?)" if hint else ""
            raise FedMKTError(f"override {shown(text)}: unknown key '{shown_text(_dotted([*path, part]))}'{extra}")
        path.append(part)
        target, listed = _section(field.annotation)
    return tuple(path)


def parse_override(text: str) -> Override:
    """``fedmkt.rounds=3`` -> Override(path=("fedmkt", "rounds"), value=3); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise FedMKTError(f"override {shown(text)}: expected KEY=VALUE with a dotted key, e.g. fedmkt.rounds=3 or "
                          f"clients.0.model=smollm2-135m")
    path = _checked_path(text, [p.strip() for p in parts])
    value = load_yaml(raw, f"override {shown(text)}") if raw.strip() else None
    if path[-1] in ("task", "model", "adapter") and isinstance(value, str) and value.startswith(("./", "../", "~")):
        value = os.path.abspath(os.path.expanduser(value))  # a path on the command line is from here
    return Override(text, path, value)


def parse_overrides(texts: Sequence[str]) -> list[Override]:
    return [parse_override(t) for t in texts]


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
