"""The sections of an experiment config (``lora``, ``train``, ``privacy``, a participant, ``data``, a domain,
``fedmkt``, ``eval``, ``runtime``, ``tracking``): pydantic models, every field documented, unknown keys refused."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fedmkt.errors import shown


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
        return known_task_name(v)


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


def known_task_name(v: str) -> str:
    """``v`` if it is a task of `fedmkt tasks` or looks like a path to the user's own data; else a ValueError."""
    from fedmkt.data.tasks import task_names  # the registry reads no data
    from fedmkt.data.tasks.local import looks_like_path

    if looks_like_path(v) or v in task_names():
        return v
    hint = difflib.get_close_matches(v, task_names(), n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise ValueError(f"unknown task {shown(v)}{extra}; expected a task of `fedmkt tasks` or a path to your own "
                     f"data (./data.jsonl, ./folder/; docs/data.md)")
