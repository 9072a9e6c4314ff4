"""A run whose models cannot all be held at once stops in preflight with one line saying what it needs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.federation.plan import VARIANTS
from fedmkt.models.footprint import parameter_count, weight_bytes
from fedmkt.runners.memory_check import GIB, PROCESS, WORKING_SET, check_memory, needed_bytes, phase_copies
from fedmkt.runners.preflight import preflight

TINY = {"name": "many", "task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
        "clients": [{"model": "tiny-gpt2-bpe"}] * 3 + [{"model": "tiny-qwen2-wordpiece"}],
        "methods": ["FedMKT-SLM", "FedMKT-LLM"]}


def _config(share: bool, **changes):
    return parse_config({**TINY, "runtime": {"share_base": share}, **changes}, "x.yaml")


def test_weight_bytes_follow_the_parameters_and_dtype():
    count = parameter_count("tiny-gpt2-bpe")
    assert count > 0
    assert weight_bytes("tiny-gpt2-bpe", "float32", "cpu") == 4 * count
    assert weight_bytes("tiny-gpt2-bpe", "bfloat16", "cpu") == 2 * count


def test_a_phase_holds_a_copy_per_participant_or_one_per_base_model():
    fedmkt, llm2slm = VARIANTS[0], next(v for v in VARIANTS if v.frozen_server)
    assert phase_copies(_config(False), fedmkt, share=False) == {
        "tiny-llama-unigram": 1, "tiny-gpt2-bpe": 3, "tiny-qwen2-wordpiece": 1}
    assert phase_copies(_config(True), fedmkt, share=True) == {
        "tiny-llama-unigram": 1, "tiny-gpt2-bpe": 1, "tiny-qwen2-wordpiece": 1}
    one = _config(True, server={"model": "tiny-gpt2-bpe"}, clients=[{"model": "tiny-gpt2-bpe"}], methods=["LLM2SLM"])
    assert phase_copies(one, llm2slm, share=True) == {"tiny-gpt2-bpe": 2}  # the frozen teacher has no adapter
    merged = _config(True, server={"model": "tiny-gpt2-bpe", "adapter": "/teacher"})  # other weights: a copy more
    assert phase_copies(merged, fedmkt, share=True) == {
        "tiny-gpt2-bpe + /teacher": 1, "tiny-gpt2-bpe": 1, "tiny-qwen2-wordpiece": 1}


def test_too_little_memory_is_one_line_with_what_it_needs_and_what_sharing_would_need():
    unshared = _config(False)
    weights = sum(n * weight_bytes(m, "auto", "cpu") for m, n in phase_copies(unshared, VARIANTS[0], False).items())
    need = int(weights * WORKING_SET) + PROCESS
    check_memory(unshared, available=need)  # exactly enough
    with pytest.raises(FedMKTError) as error:
        check_memory(unshared, available=need - 1)
    line = str(error.value)
    assert "\n" not in line and line.startswith("many: the FedMKT phase holds 5 copies of model weights at once ")
    assert f"about {need / GIB:.1f} GiB with activations" in line and "set runtime.share_base: true" in line
    with pytest.raises(FedMKTError, match="use fewer clients or smaller models$"):
        check_memory(_config(True), available=PROCESS)


@pytest.mark.real
def test_validate_refuses_more_smollm2_clients_than_memory_holds_without_sharing(tmp_path):
    """200 SmolLM2-135M clients with a copy each (over 100 GiB): one line at once; shared, one copy fits."""
    client = {"model": "smollm2-135m"}
    config = {"name": "crowd", "task": "arc_easy", "server": {"model": "smollm2-135m"}, "clients": [client] * 200,
              "data": {"public_size": 8, "private_size": 4, "eval_size": 8}, "methods": ["FedMKT-SLM"],
              "runtime": {"share_base": False}}
    path = tmp_path / "crowd.yaml"
    path.write_text(yaml.safe_dump(config))
    refused = subprocess.run([sys.executable, "-m", "fedmkt.cli", "validate", str(path)], capture_output=True,
                             text=True, timeout=600)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "the FedMKT phase holds 201 copies of model weights at once (201 x smollm2-135m)" in refused.stderr
    shared = parse_config({**config, "runtime": {"share_base": True}}, "crowd.yaml")
    need = needed_bytes(shared, phase_copies(shared, VARIANTS[0], share=True))
    assert f"set runtime.share_base: true (one copy of each model: about {need / GIB:.1f} GiB)" in refused.stderr
    check_memory(shared)
    unshared = parse_config(config, "crowd.yaml")  # a Flower deployment: each node holds its own model
    assert len(preflight(unshared, show_progress=False, in_process=False).split.private) == 200
