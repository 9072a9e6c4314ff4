"""AdamW groups and the cosine schedule with warmup."""

import math

import pytest
from torch import nn

from fedmkt.training.optim import build_optimizer, build_scheduler, warmup_steps


def test_only_trainable_parameters_and_no_decay_on_vectors():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    model[2].weight.requires_grad_(False)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95))
    decay, no_decay = opt.param_groups
    assert [p.shape for p in decay["params"]] == [(4, 4)] and decay["weight_decay"] == 0.1
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0  # 2 biases + norm weight/bias
    assert decay["betas"] == (0.9, 0.95)


@pytest.mark.parametrize("total, ratio", [(100, 0.1), (20, 0.008)])
def test_schedule_warms_up_then_decays_to_zero(total, ratio):
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.0, betas=(0.9, 0.95))
    sched = build_scheduler(opt, total_steps=total, warmup_ratio=ratio)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    warm = warmup_steps(total, ratio)
    assert warm == math.ceil(ratio * total) >= 1
    assert lrs[0] == 0.0 and all(a < b for a, b in zip(lrs[:warm], lrs[1:warm + 1], strict=False))
    assert lrs[warm] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1:], strict=False))
    assert lrs[-1] < 0.01 * 1e-2
