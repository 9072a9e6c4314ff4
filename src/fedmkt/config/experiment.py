"""The whole experiment: task or domains, server, clients, sections and methods, checked across fields."""

from __future__ import annotations

import difflib

from pydantic import Field, field_validator, model_validator

from fedmkt.config.sections import (
    DataConfig,
    DomainConfig,
    EvalConfig,
    FedMKTConfig,
    ParticipantConfig,
    PrivacyConfig,
    RuntimeConfig,
    TrackingConfig,
    _Strict,
    known_task_name,
)
from fedmkt.errors import shown

METHODS = (
    "LLM-ZS", "SLM-ZS", "Standalone", "Centralized-LLM",
    "FedMKT-SLM", "FedMKT-LLM", "FedAvg", "LLM2SLM", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg",
)
"""Methods fedmkt runs, named as in the paper. ``FedMKT-SLM`` and ``FedMKT-LLM`` are the two sides
of one FedMKT run (asking for either runs it); likewise the two ``-FedAvg`` variants."""


def default_methods(n_clients: int, same_model: bool) -> list[str]:
    """Every method that fits the scenario: the paper's table for that setting."""
    methods = ["LLM-ZS", "SLM-ZS", "Standalone", "Centralized-LLM", "FedMKT-SLM", "FedMKT-LLM"]
    if n_clients == 1:
        methods.append("LLM2SLM")
    elif same_model:
        methods += ["FedAvg", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"]
    return methods


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
        return v if v is None else known_task_name(v)

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
