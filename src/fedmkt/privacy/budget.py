"""What DP-SGD on a client's private data costs in (epsilon, delta): planned before a run, spent after each round.

A private phase samples its batches as Opacus's ``DPDataLoader`` does (Poisson sampling: each of the ``N``
private examples joins a step's batch independently with probability ``q = 1 / ceil(N / L)``, ``L =
batch_size * grad_accum`` the expected batch) and takes ``ceil(N / L)`` steps per epoch, so the sampled
Gaussian mechanism's analysis applies and the accountant's bound is valid (:func:`phase_schedule`).

A client's :class:`PrivacyLedger` keeps Opacus's accountant history, a list of ``(noise_multiplier,
sample_rate, steps)``: every private phase adds its steps, phases compose, and :meth:`PrivacyLedger.spent`
is the accountant's epsilon at the ledger's delta. The history and the client's noise secret are all a
checkpoint or a node needs to restore the accountant exactly.
"""

from __future__ import annotations

import math
import secrets
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from fedmkt.errors import FedMKTError
from fedmkt.privacy import require_opacus

ACCOUNTANTS = ("rdp", "prv")
"""Opacus's accountants fedmkt offers: Renyi DP (the default, an upper bound) and the PRV accountant (tighter)."""

History = list[tuple[float, float, int]]
"""Opacus's accountant history: ``(noise_multiplier, sample_rate, steps)`` per run of equal steps."""


@dataclass(frozen=True)
class DPSettings:
    """One client's DP-SGD: Gaussian noise of ``noise_multiplier * max_grad_norm`` on the sum of per-sample
    gradients clipped to ``max_grad_norm``, accounted at ``delta`` by ``accountant``."""

    noise_multiplier: float
    max_grad_norm: float
    delta: float
    accountant: str = "rdp"


@dataclass(frozen=True)
class Schedule:
    """One private phase under Poisson sampling: the probability an example joins a step, and the steps."""

    sample_rate: float
    steps: int


def phase_schedule(n_private: int, batch_size: int, grad_accum: int, epochs: int, max_steps: int | None) -> Schedule:
    """A private phase's schedule as Opacus's ``DPDataLoader`` makes it: ``q = 1 / ceil(N / L)``, that many steps
    per epoch (``max_steps`` caps the phase)."""
    per_epoch = math.ceil(n_private / (batch_size * grad_accum))
    steps = per_epoch * epochs
    return Schedule(1.0 / per_epoch, min(steps, max_steps) if max_steps else steps)


def noise_to_signal(noise_multiplier: float, trainable: int, expected_batch: float) -> float:
    """A DP step's noise norm over the largest norm of its clipped mean gradient, both in units of the clipping
    bound: ``noise x sqrt(trainable) / expected batch`` (docs/privacy.md, "Reading a plan"). Far above 1, the
    steps are noise and DP-SGD learns little from the private data."""
    return noise_multiplier * math.sqrt(trainable) / expected_batch


def epsilon(history: History, delta: float, accountant: str = "rdp") -> float:
    """The accountant's epsilon at ``delta`` after ``history`` (0 before any step)."""
    if not any(steps for _, _, steps in history):
        return 0.0
    require_opacus()
    from opacus.accountants import create_accountant

    found = create_accountant(mechanism=accountant)
    found.history = [(float(n), float(q), int(s)) for n, q, s in history]
    return float(found.get_epsilon(delta=delta))


def planned_epsilon(settings: DPSettings, schedule: Schedule, phases: int) -> float:
    """The epsilon after ``phases`` private phases of ``schedule`` (each round's private SFT composes)."""
    return epsilon([(settings.noise_multiplier, schedule.sample_rate, schedule.steps * phases)], settings.delta,
                   settings.accountant)


def noise_for(target_epsilon: float, delta: float, schedule: Schedule, phases: int, accountant: str,
              field: str = "privacy.target_epsilon") -> float:
    """The noise multiplier that spends at most ``target_epsilon`` over the whole schedule (Opacus's
    ``get_noise_multiplier``, to within 0.01 below the target); one line naming ``field`` when none can."""
    require_opacus()
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():  # the search tries noises whose best RDP order is the largest: not ours
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                              sample_rate=schedule.sample_rate, steps=schedule.steps * phases,
                                              accountant=accountant, epsilon_tolerance=0.01))
    except ValueError as error:
        raise FedMKTError(f"'{field}' = {target_epsilon} at delta {delta} cannot be met over {phases} private "
                          f"phase(s) of {schedule.steps} steps at sample rate {schedule.sample_rate:.4g} ({error}); "
                          "expected a larger epsilon or fewer steps") from None


def new_secret(noise_seed: int | None, client: str) -> int:
    """The client's secret that seeds its Poisson sampling and noise: from the OS (``noise_seed`` null: no one
    else can know it) or, for reproducible experiments only, derived from ``noise_seed`` and the client's name."""
    if noise_seed is None:
        return secrets.randbits(63)
    return int(np.random.SeedSequence([noise_seed, zlib.crc32(client.encode())]).generate_state(1, np.uint64)[0]) >> 1


def phase_seed(secret: int, seed: int) -> int:
    """A private phase's generator seed: the client's secret and the phase's (round's) seed together."""
    return int(np.random.SeedSequence([secret, seed]).generate_state(1, np.uint64)[0]) >> 1


@dataclass
class PrivacyLedger:
    """A client's DP-SGD settings, its noise secret and the accountant history of every private phase so far."""

    settings: DPSettings
    secret: int
    history: History = field(default_factory=list)
    phases: int = 0  # private phases trained (the history merges runs of equal steps, so it cannot say)

    def spent(self) -> float:
        """Epsilon spent so far at the settings' delta."""
        return epsilon(self.history, self.settings.delta, self.settings.accountant)

    @property
    def steps(self) -> int:
        return sum(steps for _, _, steps in self.history)

    def state(self) -> dict:
        """JSON-ready: what restores this ledger exactly (the settings come from the config again)."""
        return {"secret": self.secret, "history": [list(entry) for entry in self.history], "phases": self.phases}

    def restore(self, state: dict) -> None:
        """Inverse of :meth:`state`."""
        state = checked_state(state)
        self.secret, self.history, self.phases = state["secret"], state["history"], state["phases"]


def checked_state(state: object) -> dict:
    """A ledger's :meth:`PrivacyLedger.state` read back (from a checkpoint, a node's file), its types checked;
    ``KeyError``, ``TypeError`` or ``ValueError`` for anything else (the reader names the file)."""
    if not isinstance(state, dict):
        raise TypeError(f"a privacy ledger is a mapping, got {type(state).__name__}")
    history = [(float(n), float(q), int(s)) for n, q, s in state["history"]]
    if any(not (n >= 0 and 0 < q <= 1 and s >= 0) for n, q, s in history):
        raise ValueError(f"privacy ledger history {history} out of range")
    return {"secret": int(state["secret"]), "history": history, "phases": int(state["phases"])}
