"""FedAvg of LoRA adapters: the weighted elementwise mean, loaded into every homogeneous client."""

from __future__ import annotations

import pytest
import torch
from roles_fixtures import SETTINGS, build_federation, lora_model, tiny_qa_split, train_args

from fedmkt.core.client import Client
from fedmkt.core.fedavg import fedavg_clients, fedavg_states
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state


def _states(seed: int, dtype=torch.float32) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "a.lora_A.weight": torch.randn(4, 8, generator=gen).to(dtype),
        "a.lora_B.weight": torch.randn(8, 4, generator=gen).to(dtype),
    }


def test_weighted_elementwise_mean():
    a, b, c = _states(0), _states(1), _states(2)
    mean = fedavg_states([a, b, c], [16, 8, 0])
    for key in a:
        torch.testing.assert_close(mean[key], (16 * a[key] + 8 * b[key]) / 24)
        assert mean[key].dtype == torch.float32
    assert fedavg_states([a], [3])["a.lora_A.weight"].equal(a["a.lora_A.weight"])


def test_dtype_is_kept_and_the_mean_is_taken_in_double_precision():
    a, b = _states(0, torch.bfloat16), _states(1, torch.bfloat16)
    mean = fedavg_states([a, b], [1, 3])
    expected = ((a["a.lora_B.weight"].double() + 3 * b["a.lora_B.weight"].double()) / 4).to(torch.bfloat16)
    assert mean["a.lora_B.weight"].dtype == torch.bfloat16
    assert torch.equal(mean["a.lora_B.weight"], expected)


def test_heterogeneous_or_badly_weighted_states_are_refused():
    a, b = _states(0), _states(1)
    with pytest.raises(FedMKTError, match="other keys"):
        fedavg_states([a, {"x": b["a.lora_A.weight"]}], [1, 1])
    with pytest.raises(FedMKTError, match="shape"):
        fedavg_states([a, {**b, "a.lora_A.weight": torch.zeros(2, 2)}], [1, 1])
    with pytest.raises(FedMKTError, match="positive sum"):
        fedavg_states([a, b], [0, 0])
    with pytest.raises(FedMKTError, match="one weight per state"):
        fedavg_states([a, b], [1])


def _gpt2_clients(cache, sizes, seeds) -> list[Client]:
    """Homogeneous clients (same base model) with private sets of ``sizes`` and LoRA inits from ``seeds``."""
    server, _ = build_federation(cache, client_models=())
    public, private = tiny_qa_split()
    clients = []
    for i, (size, seed) in enumerate(zip(sizes, seeds, strict=True)):
        model, tokenizer = lora_model("tiny-gpt2-bpe", seed=seed)
        clients.append(Client(f"c{i}", model, tokenizer, private[i][:size], public, server.info,
                              settings=SETTINGS, alignment_cache=cache))
    return clients


def test_fedavg_clients_loads_the_size_weighted_mean_into_each_client(tmp_path):
    clients = _gpt2_clients(tmp_path, sizes=(16, 8), seeds=(1, 2))
    for client in clients:
        client.train_private(train_args(max_steps=2))
    before = [get_adapter_state(c.model) for c in clients]
    assert any(not torch.equal(before[0][k], before[1][k]) for k in before[0])
    report = fedavg_clients(clients)
    assert report.clients == ["c0", "c1"] and report.weights == pytest.approx([2 / 3, 1 / 3])
    after = [get_adapter_state(c.model) for c in clients]
    for key in before[0]:
        torch.testing.assert_close(after[0][key], (2 * before[0][key] + before[1][key]) / 3)
        assert torch.equal(after[0][key], after[1][key])


def test_identical_clients_stay_identical(tmp_path):
    twins = _gpt2_clients(tmp_path, sizes=(16, 8), seeds=(7, 7))
    before = get_adapter_state(twins[0].model)
    fedavg_clients(twins)
    for twin in twins:
        after = get_adapter_state(twin.model)
        assert all(torch.equal(before[k], after[k]) for k in before)
