"""A shared base on the real packaged model: SmolLM2-135M as server and both clients, one copy or three.

The tiny-model test (``test_federated.py``) covers every step; this one checks that nothing in a real
model (tied embeddings, the GGUF-converted weights, rotary caches) makes adapters of one shared base
differ from adapters of a copy each. Kept to one short round: it is in the real tier of every CI run.
"""

from __future__ import annotations

import pytest
import torch

from fedmkt.config import parse_config
from fedmkt.runners.local import run_suite

pytestmark = pytest.mark.real

SMOL = {"model": "smollm2-135m", "lora": {"r": 4, "alpha": 8, "dropout": 0.1},
        "train": {"batch_size": 2, "max_length": 128}}


def _files(run_dir, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob(pattern))}


def test_smollm2_server_and_clients_on_one_base_train_bit_for_bit_as_with_a_copy_each(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    runs = {}
    try:
        for share in (True, False):
            config = parse_config({
                "name": "shared-real", "task": "arc_easy", "seed": 0, "server": SMOL, "clients": [SMOL, SMOL],
                "data": {"public_size": 4, "private_size": 4, "eval_size": 4},
                "fedmkt": {"rounds": 1, "top_k": 16, "eval_every": 0}, "eval": {"batch_size": 4},
                "runtime": {"threads": 1, "share_base": share}, "methods": ["FedMKT-SLM", "FedMKT-LLM"],
            }, "shared-real.yaml")
            runs[share] = run_suite([config], tmp_path / str(share), show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert runs[True] == runs[False]
    for pattern, count in (("adapter_model.safetensors", 3), ("comm.jsonl", 1)):  # round 1: server + 2 clients
        shared, own = _files(tmp_path / "True", pattern), _files(tmp_path / "False", pattern)
        assert len(shared) == count and shared == own, pattern
