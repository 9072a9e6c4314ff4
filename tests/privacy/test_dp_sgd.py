"""fedmkt.privacy.dp_sgd on a tiny random-init model with LoRA: clipping, noise, accounting, and a clean model after.

Clipping and noise are read from Opacus's ``DPOptimizer`` itself through the ``inspect`` hook: with chunks of one
example, the growth of ``summed_grad`` over a chunk is exactly that example's clipped gradient, and once the
step is noised, ``grad * expected_batch - summed_grad`` is exactly the noise added.
"""

from __future__ import annotations

import pytest

pytest.importorskip("opacus")

import torch  # noqa: E402
from opacus.accountants import RDPAccountant  # noqa: E402

from fedmkt.data.tasks import get_task  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402
from fedmkt.models.lora import attach_lora, get_adapter_state  # noqa: E402
from fedmkt.models.tiny import build_tiny_model  # noqa: E402
from fedmkt.privacy.budget import DPSettings, PrivacyLedger, phase_schedule  # noqa: E402
from fedmkt.privacy.dp_sgd import per_sample_norms, train_dp  # noqa: E402
from fedmkt.training.batching import pad_id  # noqa: E402
from fedmkt.training.encode import encode_examples  # noqa: E402
from fedmkt.training.loop import TrainArgs  # noqa: E402

N = 12


def tiny(seed: int = 0):
    """A tiny GPT-2 with a fresh LoRA adapter, its pad id, and ``N`` encoded tiny_qa examples."""
    model, tokenizer = build_tiny_model("tiny-gpt2-bpe", seed=seed)
    model = attach_lora(model, r=4, alpha=8, dropout=0.0, seed=seed)
    encoded = encode_examples(tokenizer, get_task("tiny_qa").load("train")[:N], 48)
    return model, pad_id(tokenizer), encoded


def train(model, pad, encoded, *, noise=1.0, clip=1.0, secret=1, batch_size=1, grad_accum=4, seed=0, epochs=1,
          max_steps=None, inspect=None, log=None, ledger=None):
    args = TrainArgs(lr=1e-2, batch_size=batch_size, grad_accum=grad_accum, warmup_ratio=0.0, seed=seed,
                     epochs=epochs, max_steps=max_steps)
    ledger = ledger or PrivacyLedger(DPSettings(noise, clip, 1e-3), secret=secret)
    schedule = phase_schedule(len(encoded), batch_size, grad_accum, epochs, max_steps)
    stats = train_dp(model, encoded, pad, args, ledger, schedule, inspect=inspect, log=log)
    return ledger, schedule, stats


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


@pytest.mark.parametrize("clip", [0.05, 1e4], ids=["most-clipped", "none-clipped"])
def test_each_examples_clipped_gradient_is_at_most_the_bound_and_is_its_gradient_scaled_down(clip):
    model, pad, encoded = tiny()
    seen: list[tuple[float, float]] = []  # (raw norm, norm of what the example added to the step's clipped sum)
    before = {"sum": None}

    def inspect(dp, noised: bool) -> None:
        total = _flat([p.summed_grad for p in dp.params])
        previous = before["sum"] if before["sum"] is not None else torch.zeros_like(total)
        if dp.params[0].grad_sample.shape[0] == 1:  # one example per chunk (an empty step adds none)
            raw = float(per_sample_norms(dp.params)[0])
            seen.append((raw, float((total - previous).norm())))
        before["sum"] = None if noised else total

    train(model, pad, encoded, clip=clip, inspect=inspect, batch_size=1, grad_accum=4)
    assert len(seen) >= N // 2
    for raw, clipped in seen:
        assert clipped <= clip * (1 + 1e-5)
        assert clipped == pytest.approx(min(raw, clip), rel=1e-3)
    raws = [raw for raw, _ in seen]
    assert (min(raws) > clip) if clip < 1 else (max(raws) < clip)  # each case is the one its name says


@pytest.mark.parametrize("noise", [0.0, 0.5, 4.0])
def test_the_noise_added_once_per_step_has_the_std_of_noise_multiplier_times_the_bound(noise):
    model, pad, encoded = tiny()
    found: list[torch.Tensor] = []

    def inspect(dp, noised: bool) -> None:
        if noised:
            added = _flat([p.grad * dp.expected_batch_size - p.summed_grad for p in dp.params])
            found.append(added)

    ledger, schedule, stats = train(model, pad, encoded, noise=noise, clip=0.5, inspect=inspect)
    assert len(found) == stats.steps == schedule.steps  # noise once per step, not per chunk
    for added in found:
        assert added.numel() > 2000
        if noise == 0:
            assert float(added.abs().max()) < 1e-5
        else:
            assert float(added.std()) == pytest.approx(noise * 0.5, rel=0.1)
            assert abs(float(added.mean())) < 0.1 * noise * 0.5


def test_the_epsilon_reported_is_the_accountants_own_over_every_step_of_every_phase():
    model, pad, encoded = tiny()
    ledger, schedule, stats = train(model, pad, encoded, noise=0.8, batch_size=2, grad_accum=2, epochs=2)
    assert stats.steps == schedule.steps == 2 * 3 and ledger.history == [(0.8, 1 / 3, 6)] and ledger.phases == 1
    train(model, pad, encoded[:8], noise=0.8, batch_size=2, grad_accum=2, seed=1000, ledger=ledger)  # q = 1/2
    reference = RDPAccountant()
    for _ in range(6):
        reference.step(noise_multiplier=0.8, sample_rate=1 / 3)
    for _ in range(2):
        reference.step(noise_multiplier=0.8, sample_rate=1 / 2)
    assert ledger.spent() == pytest.approx(reference.get_epsilon(delta=1e-3), rel=1e-9)
    assert ledger.phases == 2 and ledger.steps == 8


def test_the_client_secret_decides_the_noise_and_sampling():
    adapters = []
    for secret in (1, 1, 2):
        model, pad, encoded = tiny()
        train(model, pad, encoded, noise=1.0, secret=secret)
        adapters.append(_flat(get_adapter_state(model).values()))
    assert torch.equal(adapters[0], adapters[1])  # reproducible from the secret
    assert not torch.allclose(adapters[0], adapters[2])


def test_empty_poisson_batches_are_noise_only_steps_the_accountant_counts():
    model, pad, encoded = tiny()
    batches: list[int] = []
    ledger, schedule, stats = train(model, pad, encoded, batch_size=1, grad_accum=1, secret=3,
                                    log=lambda step: batches.append(step["batch"]))
    assert schedule.sample_rate == 1 / N and len(batches) == stats.steps == N
    assert 0 in batches and max(batches) >= 2  # Poisson: some steps empty, some larger than the expected batch
    assert ledger.steps == N


def test_the_model_is_left_clean_only_its_adapter_changed():
    model, pad, encoded = tiny()
    model.eval()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    adapter = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    train(model, pad, encoded, max_steps=2)
    assert not model.training
    assert not [n for n, m in model.named_modules() if m._forward_hooks or m._backward_hooks]
    assert not [n for n, p in model.named_parameters()
                if p.grad is not None or any(hasattr(p, a) for a in ("grad_sample", "summed_grad"))]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad)
    assert any(not torch.equal(p, adapter[n]) for n, p in model.named_parameters() if p.requires_grad)


def test_a_model_without_an_adapter_is_one_line():
    model, tokenizer = build_tiny_model("tiny-gpt2-bpe", seed=0)
    for p in model.parameters():
        p.requires_grad_(False)
    encoded = encode_examples(tokenizer, get_task("tiny_qa").load("train")[:4], 48)
    with pytest.raises(FedMKTError, match="no trainable parameters"):
        train(model, pad_id(tokenizer), encoded)


def test_each_steps_noisy_gradient_has_the_norm_the_plan_predicts():
    """``PlannedBudget.noise_to_signal`` (what validate prints) is what training sees: with the signal at most the
    bound, a step's noisy mean gradient has norm noise x bound x sqrt(trainable) / expected batch, give or take
    the bound."""
    from fedmkt.models.footprint import lora_parameter_count
    from fedmkt.privacy.budget import DPSettings as Settings
    from fedmkt.setup.privacy import PlannedBudget

    model, pad, encoded = tiny()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == lora_parameter_count("tiny-gpt2-bpe", 4)
    norms: list[float] = []
    _, schedule, _ = train(model, pad, encoded, noise=3.0, clip=0.1, batch_size=2, grad_accum=2,
                           log=lambda record: norms.append(record["grad_norm"]))
    plan = PlannedBudget("client-1", "privacy", "Standalone", Settings(3.0, 0.1, 1e-3), schedule, 1, N, None, 1.0,
                         trainable=trainable)
    assert plan.noise_to_signal is not None and plan.noise_to_signal > 10
    predicted = plan.noise_to_signal * 0.1
    assert norms and all(abs(norm - predicted) <= 0.1 + 0.1 * predicted for norm in norms)
