"""fedmkt.privacy.budget: the Poisson schedule, the epsilon reported, the noise for a target, the ledger's state.

Every epsilon is checked against Opacus's own accountants stepped independently in the test, and the schedule
against Opacus's own ``DPDataLoader`` over a dataset of the same size.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opacus")

import torch  # noqa: E402
from opacus.accountants import PRVAccountant, RDPAccountant  # noqa: E402
from opacus.data_loader import DPDataLoader  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from fedmkt.errors import FedMKTError  # noqa: E402
from fedmkt.privacy.budget import (  # noqa: E402
    DPSettings,
    PrivacyLedger,
    Schedule,
    checked_state,
    epsilon,
    new_secret,
    noise_for,
    phase_schedule,
    phase_seed,
    planned_epsilon,
)


@pytest.mark.parametrize(("n", "batch_size", "grad_accum"), [(48, 16, 1), (50, 4, 2), (7, 8, 1), (100, 3, 1)])
def test_the_schedule_is_the_one_opacus_dp_data_loader_samples(n, batch_size, grad_accum):
    loader = DPDataLoader.from_data_loader(DataLoader(TensorDataset(torch.zeros(n, 1)), batch_size * grad_accum))
    schedule = phase_schedule(n, batch_size, grad_accum, epochs=3, max_steps=None)
    assert schedule.sample_rate == loader.sample_rate
    assert schedule.steps == 3 * len(loader)
    assert phase_schedule(n, batch_size, grad_accum, epochs=3, max_steps=2).steps == 2


def _stepped(accountant, noise: float, sample_rate: float, steps: int) -> None:
    for _ in range(steps):
        accountant.step(noise_multiplier=noise, sample_rate=sample_rate)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_the_planned_epsilon_is_the_accountants_own_for_every_step_of_every_phase(accountant):
    settings, schedule = DPSettings(0.9, 1.0, 1e-4, accountant), Schedule(1 / 6, 12)
    reference = RDPAccountant() if accountant == "rdp" else PRVAccountant()
    _stepped(reference, 0.9, 1 / 6, 12 * 3)
    assert planned_epsilon(settings, schedule, phases=3) == pytest.approx(reference.get_epsilon(delta=1e-4), rel=1e-9)
    assert planned_epsilon(settings, schedule, phases=3) > planned_epsilon(settings, schedule, phases=1) > 0


def test_a_ledgers_epsilon_composes_its_phases_as_the_accountant_does():
    reference = RDPAccountant()
    _stepped(reference, 1.1, 0.25, 4)
    _stepped(reference, 1.1, 0.1, 10)  # a phase at another sample rate (another private size)
    ledger = PrivacyLedger(DPSettings(1.1, 0.5, 1e-5), secret=1, history=[(1.1, 0.25, 4), (1.1, 0.1, 10)], phases=2)
    assert ledger.spent() == pytest.approx(reference.get_epsilon(delta=1e-5), rel=1e-9)
    assert ledger.steps == 14
    assert epsilon([], 1e-5) == 0.0 and PrivacyLedger(DPSettings(1.0, 1.0, 1e-5), secret=1).spent() == 0.0


@pytest.mark.parametrize("target", [1.0, 4.0, 8.0])
def test_the_noise_for_a_target_spends_at_most_the_target_and_little_less(target):
    schedule = Schedule(1 / 3, 6)
    noise = noise_for(target, 1e-3, schedule, phases=2, accountant="rdp")
    reference = RDPAccountant()
    _stepped(reference, noise, 1 / 3, 12)
    spent = reference.get_epsilon(delta=1e-3)
    assert target - 0.011 <= spent <= target
    assert noise_for(target, 1e-3, schedule, phases=4, accountant="rdp") > noise  # longer schedule: more noise


def test_a_target_no_noise_can_meet_is_one_line_naming_the_field():
    with pytest.raises(FedMKTError) as caught:
        noise_for(1e-9, 1e-5, Schedule(1.0, 1000), phases=10, accountant="rdp",
                  field="clients.0.privacy.target_epsilon")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("'clients.0.privacy.target_epsilon' = 1e-09")


def test_the_ledger_state_restores_it_exactly_through_json():
    ledger = PrivacyLedger(DPSettings(1.3, 0.7, 1e-5, "prv"), secret=new_secret(None, "client-1"),
                           history=[(1.3, 0.2, 5), (1.3, 0.125, 8)], phases=3)
    restored = PrivacyLedger(ledger.settings, secret=0)
    restored.restore(json.loads(json.dumps(ledger.state())))
    assert (restored.secret, restored.history, restored.phases) == (ledger.secret, ledger.history, ledger.phases)
    assert restored.spent() == ledger.spent()


@pytest.mark.parametrize("state", [
    [], {"secret": 1, "history": [], "phases": "x"}, {"secret": 1, "phases": 0},
    {"secret": 1, "history": [[1.0, 2.0, 3]], "phases": 1}, {"secret": 1, "history": [[1.0, 0.5]], "phases": 1},
])
def test_a_malformed_ledger_state_is_refused(state):
    with pytest.raises((KeyError, TypeError, ValueError)):
        checked_state(state)


def test_secrets_come_from_the_os_unless_a_noise_seed_fixes_them_per_client():
    assert new_secret(None, "client-1") != new_secret(None, "client-1")
    assert new_secret(7, "client-1") == new_secret(7, "client-1")
    assert len({new_secret(7, "client-1"), new_secret(7, "client-2"), new_secret(8, "client-1")}) == 3
    assert 0 <= new_secret(7, "client-1") < 2**63
    assert phase_seed(1, 1000) != phase_seed(2, 1000) and phase_seed(1, 1000) != phase_seed(1, 2000)
