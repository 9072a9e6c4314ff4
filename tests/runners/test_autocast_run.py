"""A whole FedMKT round under bf16 autocast: weights stay fp32, the run completes and scores."""

import math

from fedmkt.config import parse_config
from fedmkt.runners.local import run_suite

TINY = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train": {"lr": 3e-3, "batch_size": 8, "max_length": 48}}


def test_a_round_under_bf16_autocast_completes_with_finite_scores(tmp_path):
    config = parse_config({
        "name": "bf16", "task": "tiny_qa",
        "server": {"model": "tiny-llama-unigram", **TINY},
        "clients": [{"model": "tiny-gpt2-bpe", **TINY}],
        "data": {"public_size": 8, "private_size": 8, "eval_size": 8},
        "eval": {"batch_size": 16, "bootstrap": 100},
        "fedmkt": {"rounds": 1, "top_k": 4},
        "runtime": {"autocast": "bfloat16", "threads": 1},
        "methods": ["FedMKT-SLM", "FedMKT-LLM"],
    }, "test")
    rows = run_suite([config], tmp_path, show_progress=False)
    assert {r.method for r in rows} == {"FedMKT-SLM", "FedMKT-LLM"}
    assert all(math.isfinite(r.value) for r in rows)
    assert (tmp_path / "adapters" / "FedMKT" / "round-1" / "client-1" / "adapter_model.safetensors").is_file()
