"""``fedmkt bench step`` on a tiny model: real steps, valid targets, JSON last line."""

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from fedmkt.bench.step import build_batch, few_shot_examples, random_kd_targets
from fedmkt.bench.step_commands import app
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer
from fedmkt.training.encode import IGNORE_INDEX
from fedmkt.training.sft import next_token_labels

STEP_KEYS = {"sft_seconds", "kd_seconds", "time_ratio", "sft_peak_bytes", "kd_peak_bytes", "memory_ratio",
             "memory_kind", "time_ratio_target", "memory_ratio_target", "batch", "seq", "top_k"}


def test_step_command_prints_json_last():
    result = CliRunner().invoke(
        app, ["step", "--model", "tiny-gpt2-bpe", "--batch-size", "3", "--seq", "40", "--top-k", "8", "--repeats", "1",
              "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert STEP_KEYS <= figures.keys()
    assert figures["batch"] == 3 and figures["top_k"] == 8 and figures["seq"] <= 40
    assert figures["sft_seconds"] > 0 and figures["kd_seconds"] > 0
    assert figures["time_ratio"] == pytest.approx(figures["kd_seconds"] / figures["sft_seconds"])
    assert figures["memory_kind"] == "tensors_exact"
    assert figures["sft_peak_bytes"] > 0 and figures["kd_peak_bytes"] > 0


def test_batch_is_cut_to_seq_and_targets_cover_every_answer_position():
    tokenizer = load_tokenizer("tiny-llama-unigram")
    examples = few_shot_examples(get_task("tiny_qa").load("train"), 4)
    batch = build_batch(tokenizer, examples, 32)
    assert batch["input_ids"].shape == (4, 32)  # few-shot prompts are longer than 32 tokens, so cut
    targets = random_kd_targets(batch, vocab_size=len(tokenizer), top_k=5, seed=1)
    counts = (next_token_labels(batch["labels"]) != IGNORE_INDEX).sum(dim=1).tolist()
    for index, count in zip(batch["index"].tolist(), counts, strict=True):
        t = targets[index]
        assert t.ids.shape == (count, 5)
        assert all(len(set(row)) == 5 for row in t.ids.tolist())  # distinct ids per position
        assert int(t.ids.min()) >= 0 and int(t.ids.max()) < len(tokenizer)
        assert torch.allclose(t.probs.sum(-1), torch.ones(count))
        assert bool((t.probs[:, :-1] >= t.probs[:, 1:]).all())


def test_bad_top_k_is_one_clear_error():
    batch = build_batch(load_tokenizer("tiny-gpt2-bpe"), few_shot_examples(get_task("tiny_qa").load("train"), 2), 24)
    with pytest.raises(FedMKTError, match="top-k"):
        random_kd_targets(batch, vocab_size=10, top_k=11)


def test_peak_memory_sees_a_large_cpu_allocation():
    # A fresh process: in a long test session the allocator may serve the block from memory that
    # earlier tests freed but kept resident, so RSS (what PeakMemory samples on CPU) need not grow.
    code = (
        "import time, torch\n"
        "from fedmkt.bench.step import PeakMemory\n"
        "with PeakMemory(torch.device('cpu')) as memory:\n"
        "    block = torch.ones(64 * 2**20 // 4)\n"
        "    block.add_(1)\n"
        "    time.sleep(0.05)\n"
        "print(memory.peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) >= 32 * 2**20
