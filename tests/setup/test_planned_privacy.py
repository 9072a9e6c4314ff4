"""setup.privacy: each client's planned budget (what preflight refuses and validate prints) and its first ledger."""

from __future__ import annotations

import pytest

pytest.importorskip("opacus")

from opacus.accountants import RDPAccountant  # noqa: E402

from fedmkt.config import parse_config  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402
from fedmkt.setup.privacy import client_ledger, plan_budget, planned_budgets  # noqa: E402

TRAIN = {"batch_size": 4, "epochs": 2}
BASE = {"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"}, "fedmkt": {"rounds": 3},
        "clients": [{"model": "tiny-gpt2-bpe", "train": TRAIN}, {"model": "tiny-gpt2-bpe", "train": TRAIN}],
        "methods": ["Standalone", "FedMKT-SLM", "FedMKT-LLM"]}


def _config(**changes):
    return parse_config({**BASE, **changes}, "x.yaml")


def _one_line(call) -> str:
    with pytest.raises(FedMKTError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_noise_multiplier_plans_the_accountants_epsilon_over_every_rounds_phase():
    config = _config(privacy={"noise_multiplier": 1.2, "max_grad_norm": 0.5, "delta": 1e-4})
    plans = planned_budgets(config, [40, 24])
    assert [(p.participant, p.methods, p.phases) for p in plans] == [
        ("client-1", "Standalone", 1), ("client-2", "Standalone", 1),
        ("client-1", "FedMKT-SLM/FedMKT-LLM", 3), ("client-2", "FedMKT-SLM/FedMKT-LLM", 3)]
    federated = plans[2]
    assert federated.schedule.sample_rate == 1 / 10 and federated.schedule.steps == 20  # 40 examples, 4/step, 2 epochs
    reference = RDPAccountant()
    for _ in range(3 * 20):
        reference.step(noise_multiplier=1.2, sample_rate=1 / 10)
    assert federated.epsilon == pytest.approx(reference.get_epsilon(delta=1e-4), rel=1e-9)
    assert plans[0].epsilon < federated.epsilon  # one phase spends less than three
    assert "epsilon" in federated.line() and "client-1 DP-SGD in FedMKT-SLM/FedMKT-LLM (privacy)" in federated.line()
    one_round = _config(privacy={"noise_multiplier": 1.2, "max_grad_norm": 0.5, "delta": 1e-4},
                        fedmkt={"rounds": 3, "train_private_each_round": False})
    assert planned_budgets(one_round, [40, 24])[2].phases == 1


def test_a_target_epsilon_sets_the_noise_so_the_whole_schedule_stays_within_it():
    config = _config(privacy={"target_epsilon": 4.0, "max_grad_norm": 1.0, "delta": 1e-3})
    plans = planned_budgets(config, [40, 40])
    assert all(3.98 <= p.epsilon <= 4.0 for p in plans)
    assert plans[2].settings.noise_multiplier > plans[0].settings.noise_multiplier  # three phases need more noise


def test_a_schedule_past_its_target_is_refused_with_the_epsilon_it_would_reach():
    config = _config(privacy={"target_epsilon": 1.0, "noise_multiplier": 0.5, "max_grad_norm": 1.0, "delta": 1e-3})
    message = _one_line(lambda: planned_budgets(config, [40, 40]))
    assert message.startswith("'privacy.target_epsilon' = 1: client-1's schedule") and "would reach epsilon" in message
    reached = float(message.split("would reach epsilon ")[1].split()[0])
    assert reached > 1.0


def test_delta_not_below_one_over_the_private_size_is_refused_naming_the_field():
    config = _config(clients=[{"model": "tiny-gpt2-bpe", "train": TRAIN},
                              {"model": "tiny-gpt2-bpe", "train": TRAIN,
                               "privacy": {"noise_multiplier": 1.0, "max_grad_norm": 1.0, "delta": 0.05}}])
    message = _one_line(lambda: planned_budgets(config, [40, 20]))  # 1/20 = 0.05
    assert message.startswith("'clients.1.privacy.delta' = 0.05 is not below 1 / private size (client-2 holds 20")
    assert "(client-2 holds 25" in _one_line(lambda: planned_budgets(config, [40, 25]))  # 1/25 = 0.04
    assert [p.participant for p in planned_budgets(config, [40, 19])] == ["client-2"] * 2  # 1/19 > 0.05


def test_no_privacy_plans_nothing_and_the_ledger_starts_empty_with_its_secret():
    assert planned_budgets(_config(), [40, 40]) == []
    assert plan_budget(_config(), _config().clients[0], 40, 3) is None
    config = _config(privacy={"noise_multiplier": 1.0, "max_grad_norm": 1.0, "noise_seed": 9})
    ledger = client_ledger(config, config.clients[0], 40, 3)
    assert ledger is not None and ledger.history == [] and ledger.phases == 0 and ledger.spent() == 0.0
    assert ledger.secret == client_ledger(config, config.clients[0], 40, 3).secret  # from the noise seed
    assert ledger.secret != client_ledger(config, config.clients[1], 40, 3).secret


def test_the_plan_says_how_far_a_steps_noise_outweighs_its_signal():
    """validate's line: noise x sqrt(trainable) / expected batch, and a warning where it is far above 1."""
    config = _config(privacy={"noise_multiplier": 1.0, "max_grad_norm": 1.0, "delta": 1e-3})
    plain = planned_budgets(config, [40, 40])
    assert all(p.noise_to_signal is None and "signal" not in p.line() for p in plain)
    plans = planned_budgets(config, [40, 40], {"client-1": 10_000, "client-2": 16})
    noisy, quiet = plans[0], plans[1]
    assert noisy.noise_to_signal == pytest.approx(1.0 * 100 / 4)  # expected batch 40 x 1/10
    assert "25x its largest signal (10,000 trainable parameters, expected batch 4): DP-SGD will learn little" \
        in noisy.line()
    assert quiet.noise_to_signal == pytest.approx(1.0) and "learn little" not in quiet.line()


def test_validate_prints_each_dp_clients_noise_to_signal_from_its_adapters_size(tmp_path):
    from fedmkt.models.footprint import lora_parameter_count
    from fedmkt.runners.preflight import preflight

    config = _config(privacy={"noise_multiplier": 1.0, "max_grad_norm": 1.0, "delta": 1e-3},
                     clients=[{"model": "tiny-gpt2-bpe", "train": TRAIN, "lora": {"r": 2}},
                              {"model": "tiny-gpt2-bpe", "train": TRAIN, "privacy": False}])
    lines = [line for line in preflight(config, show_progress=False).summary() if "DP-SGD" in line]
    assert len(lines) == 2 and all("client-1 DP-SGD" in line for line in lines)  # Standalone and FedMKT; not client-2
    assert all(f"({lora_parameter_count('tiny-gpt2-bpe', 2):,} trainable parameters" in line for line in lines)
