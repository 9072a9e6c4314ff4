"""A client's DP-SGD as the experiment asks for it: the planned budget and the ledger the client starts with.

The noise for a ``target_epsilon`` is computed for the whole schedule a client will train (every round's
private phase composes: ``fedmkt.rounds`` phases, or one with ``train_private_each_round: false``; a
Standalone baseline trains one), so the target holds at the end of the run. The same plan is what
preflight checks (a schedule that would spend more than the target is refused before anything trains)
and what ``fedmkt validate`` prints; a driver builds each client's :class:`PrivacyLedger` from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from fedmkt.config import ExperimentConfig, FedMKTConfig, ParticipantConfig
from fedmkt.errors import FedMKTError
from fedmkt.privacy.budget import (
    DPSettings,
    PrivacyLedger,
    Schedule,
    new_secret,
    noise_for,
    noise_to_signal,
    phase_schedule,
    planned_epsilon,
)

FEDERATED = ("FedMKT-SLM", "FedMKT-LLM", "FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg", "LLM2SLM", "FedAvg")
"""Methods whose clients train on their private data in the federated rounds (``fedmkt.federation.plan``)."""


@dataclass(frozen=True)
class PlannedBudget:
    """One client's DP-SGD over a run: its settings, one phase's schedule, how many phases, the epsilon at the end."""

    participant: str
    field: str  # the config section it comes from: privacy, or clients.<i>.privacy
    methods: str  # what the plan is for: "Standalone", or the federated methods (each a deployment of its own)
    settings: DPSettings
    schedule: Schedule
    phases: int
    n_private: int
    target_epsilon: float | None
    epsilon: float
    trainable: int | None = None  # the adapter's trainable parameters, where known (validate)

    @property
    def noise_to_signal(self) -> float | None:
        """The norm of a step's noise over the largest norm its clipped mean gradient can have:
        ``noise x sqrt(trainable) / expected batch`` (docs/privacy.md, "Reading a plan"). Far above 1, the
        steps are noise and DP-SGD learns little from the private data."""
        if self.trainable is None:
            return None
        batch = self.schedule.sample_rate * self.n_private
        return noise_to_signal(self.settings.noise_multiplier, self.trainable, batch)

    def line(self) -> str:
        """One line for ``fedmkt validate``."""
        s, q = self.settings, self.schedule
        target = f" (for target epsilon {self.target_epsilon:g})" if self.target_epsilon is not None else ""
        ratio = self.noise_to_signal
        snr = "" if ratio is None else (
            f"; a step's noise about {ratio:.3g}x its largest signal ({self.trainable:,} trainable parameters, "
            f"expected batch {q.sample_rate * self.n_private:.3g}"
            + ("): DP-SGD will learn little from the private data, see docs/privacy.md" if ratio > 10 else ")"))
        return (f"{self.participant} DP-SGD in {self.methods} ({self.field}): noise {s.noise_multiplier:.4g}{target}, "
                f"clip {s.max_grad_norm:g}, {self.n_private} private examples at sample rate {q.sample_rate:.4g}, "
                f"{self.phases} phase(s) of {q.steps} steps: "
                f"epsilon {self.epsilon:.3f} at delta {s.delta:g} ({s.accountant}){snr}")


def private_phases(fedmkt: FedMKTConfig) -> int:
    """Private phases a client trains in a federated run (each round's composes): every round, or round 1 only.

    With ``clients_per_round`` a client trains only in the rounds it is drawn; the plan counts every round, an
    upper bound (the ledger counts what it trains)."""
    return fedmkt.rounds if fedmkt.train_private_each_round else 1


def plan_budget(config: ExperimentConfig, spec: ParticipantConfig, n_private: int, phases: int,
                methods: str = "") -> PlannedBudget | None:
    """``spec``'s DP-SGD over ``phases`` private phases on ``n_private`` examples (None: no privacy); one line
    naming the field for a delta not below ``1 / n_private``, a target no noise meets, or a schedule past it."""
    found = config.client_privacy(spec)
    if found is None:
        return None
    field = f"clients.{config.clients.index(spec)}.privacy" if spec.privacy else "privacy"
    if found.delta >= 1 / n_private:
        raise FedMKTError(f"'{field}.delta' = {found.delta:g} is not below 1 / private size ({spec.name} holds "
                          f"{n_private} examples: 1/{n_private} = {1 / n_private:.3g}); expected a smaller delta, "
                          f"such as {1 / (10 * n_private):.1g}")
    t = spec.train
    schedule = phase_schedule(n_private, t.batch_size, t.grad_accum, t.epochs, t.max_steps)
    noise = found.noise_multiplier
    if noise is None:
        assert found.target_epsilon is not None  # the config asks for one of them
        noise = noise_for(found.target_epsilon, found.delta, schedule, phases, found.accountant,
                          f"{field}.target_epsilon")
    settings = DPSettings(noise, found.max_grad_norm or 0.0, found.delta, found.accountant)
    spent = planned_epsilon(settings, schedule, phases)
    if found.target_epsilon is not None and spent > found.target_epsilon:
        raise FedMKTError(f"'{field}.target_epsilon' = {found.target_epsilon:g}: {spec.name}'s schedule ({phases} "
                          f"private phase(s) of {schedule.steps} steps at sample rate {schedule.sample_rate:.4g}, "
                          f"noise {noise:g}) would reach epsilon {spent:.3f} at delta {found.delta:g}; expected more "
                          "noise, fewer rounds or steps, or a larger target")
    return PlannedBudget(spec.name, field, methods, settings, schedule, phases, n_private, found.target_epsilon, spent)


def planned_budgets(config: ExperimentConfig, private_sizes: Sequence[int],
                    trainable: Mapping[str, int] | None = None) -> list[PlannedBudget]:
    """Every client's plan for each kind of method ``config`` runs that trains on its private data: Standalone
    (one phase) and the federated methods (:func:`private_phases`); what preflight checks and validate prints.

    ``private_sizes``: each client's private set, in the config's order; ``trainable``: each client's adapter
    size by name, where known (the plan's noise-to-signal ratio). Refuses (one line naming the field) a
    delta not below ``1 / private size``, a target no noise meets, or a schedule that would spend more than it."""
    methods = set(config.method_names)
    kinds = [("Standalone", 1)] if "Standalone" in methods else []
    federated = [m for m in config.method_names if m in FEDERATED]
    if federated:
        kinds.append(("/".join(federated), private_phases(config.fedmkt)))
    plans = [plan for label, phases in kinds for spec, n in zip(config.clients, private_sizes, strict=True)
             if (plan := plan_budget(config, spec, n, phases, label)) is not None]
    return [replace(plan, trainable=(trainable or {}).get(plan.participant)) for plan in plans]


def client_ledger(
    config: ExperimentConfig, spec: ParticipantConfig, n_private: int, phases: int,
) -> PrivacyLedger | None:
    """The ledger ``spec`` starts a run with (None: no privacy): its settings planned, its secret drawn, nothing
    spent."""
    planned = plan_budget(config, spec, n_private, phases)
    if planned is None:
        return None
    found = config.client_privacy(spec)
    return PrivacyLedger(planned.settings, new_secret(found.noise_seed if found else None, spec.name))
