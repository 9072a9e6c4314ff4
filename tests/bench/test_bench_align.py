"""``fedmkt bench align`` on tiny tokenizers: JSON last line, both directions, warm cache hits."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from fedmkt.bench.align import default_task, random_topk
from fedmkt.bench.commands import app
from fedmkt.setup.roles import default_alignment_cache


def test_random_topk_rows_are_valid_distributions() -> None:
    ids, probs = random_topk(130, 500, 16, torch.Generator().manual_seed(0))
    assert ids.shape == probs.shape == (130, 16)
    assert all(len(set(row.tolist())) == 16 for row in ids)
    assert (probs[:, :-1] >= probs[:, 1:]).all() and (probs.sum(1) < 1).all()


def test_default_task_follows_the_models() -> None:
    assert default_task("tiny-gpt2-bpe", "tiny-llama-unigram") == "tiny_qa"
    assert default_task("smollm2-135m", "gemma3-270m") == "arc_easy"


def test_bench_align_json(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["align", "--model-a", "tiny-gpt2-bpe", "--model-b", "tiny-llama-unigram",
              "--n", "12", "--top-k", "8", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["samples"] == 12 and out["top_k"] == 8 and out["task"] == "tiny_qa"
    for key in ("vocab_map_seconds", "align_cold_seconds", "align_warm_seconds", "coverage", "matched_rows"):
        assert set(out[key]) == {"a_to_b", "b_to_a"}, key
    for d in ("a_to_b", "b_to_a"):
        assert out["vocab_map_seconds"][d] > 0 and out["align_cold_seconds"][d] > 0
        assert out["cache"][d] == {"misses": 12, "hits": 12}  # warm pass: every alignment from the cache
        assert out["coverage"][d]["unmapped"] == 0
        assert 0 < out["matched_rows"][d] <= 1
    assert out["coverage"]["a_to_b"]["source_size"] == out["coverage"]["b_to_a"]["target_size"]
    assert out["rows"]["a_to_b"]["source"] == out["rows"]["b_to_a"]["target"]
    assert not default_alignment_cache().exists()  # built in a temporary folder, user cache untouched
