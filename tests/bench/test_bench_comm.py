"""``fedmkt bench comm`` on a tiny config: our message sizes against LoRA, model and the pickle."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fedmkt.bench.comm import our_message, our_message_bytes, reference_bytes
from fedmkt.bench.commands import app
from fedmkt.core.message_checks import receive
from fedmkt.core.messages import encode
from fedmkt.core.public_view import PublicView
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer

CONFIG = """
name: tiny-comm
task: tiny_qa
server: {model: tiny-llama-unigram, train: {max_length: 64}}
clients:
  - {model: tiny-gpt2-bpe, lora: {r: 4, alpha: 8}, train: {max_length: 64}}
  - {model: tiny-gpt2-bpe, lora: {r: 4, alpha: 8}, train: {max_length: 64}}
data: {public_size: 16, private_size: 8, eval_size: 8}
fedmkt: {top_k: 8}
methods: [FedMKT-SLM]
"""


def test_our_message_passes_the_receivers_checks() -> None:
    tokenizer = load_tokenizer("tiny-gpt2-bpe")
    task = get_task("tiny_qa")
    view = PublicView(tokenizer, task.load(task.train_split)[:5], 64)
    message = our_message(view, "client-1", len(tokenizer), 8, seed=0)
    data = encode(message)
    received = receive(data, expected_positions=view.expected_positions(), vocab_size=len(tokenizer),
                       top_k=8, sender="client-1", round=1)
    assert [s.n_positions for s in received.samples] == [int(p.size) for p in view.positions]
    assert our_message_bytes(view, "client-1", len(tokenizer), 8, seed=0) == len(data)


def test_bench_comm_json(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")  # the table's headers on one line
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    result = CliRunner().invoke(app, ["comm", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["public_size"] == 16 and out["top_k"] == 8 and out["clients"] == 2
    server, c1, c2 = out["participants"]
    assert c1["ours_bytes"] == c2["ours_bytes"] and c1["lora_params"] == c2["lora_params"] > 0
    assert c1["lora_params"] < server["lora_params"] * 2 and c1["lora_bytes"] == 4 * c1["lora_params"]
    assert out["up"]["ours"] == 2 * c1["ours_bytes"] and out["down"]["ours"] == 2 * server["ours_bytes"]
    for d in ("up", "down", "round"):
        b = out[d]
        assert b["ratio"] > 1 and b["ratio"] == pytest.approx(b["reference"] / b["ours"])
        assert b["lora"] < b["model"]
    assert out["round"]["ours"] == out["up"]["ours"] + out["down"]["ours"]
    assert out["kd_positions"] == "answer" and out["up"]["ours"] == out["up"]["ours_answer"]
    assert "all positions" in result.output


def test_bench_comm_gives_the_bytes_of_both_position_choices(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer against all positions: each message row is k ids and k fp16 probabilities, so the bytes grow with
    the rows sent, and the config's choice is what ``ours`` reports."""
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path / "home"))
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("fedmkt: {top_k: 8}", "fedmkt: {top_k: 8, kd_positions: all}"))
    result = CliRunner().invoke(app, ["comm", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["kd_positions"] == "all"
    for part in out["participants"]:
        extra_rows = part["all_positions"] - part["answer_positions"]
        assert extra_rows > part["answer_positions"] > 0
        row_bytes = 8 * ({"uint8": 1, "uint16": 2, "int32": 4}[part["id_dtype"]] + 2)
        assert part["ours_all_bytes"] - part["ours_answer_bytes"] == pytest.approx(extra_rows * row_bytes, rel=0.01)
        assert part["ours_bytes"] == part["ours_all_bytes"]
    for d in ("up", "down", "round"):
        assert out[d]["ours"] == out[d]["ours_all"] > out[d]["ours_answer"]
        assert out[d]["ratio"] == pytest.approx(out[d]["reference"] / out[d]["ours_all"])


def test_bench_comm_needs_one_source() -> None:
    result = CliRunner().invoke(app, ["comm"])
    assert isinstance(result.exception, FedMKTError)


def test_reference_pickles_every_padded_position() -> None:
    tokenizer = load_tokenizer("tiny-gpt2-bpe")
    task = get_task("tiny_qa")
    view = PublicView(tokenizer, task.load(task.train_split)[:6], 64)
    length = max(len(ex.input_ids) for ex in view.encoded)
    small, large = (reference_bytes(view, len(tokenizer), k, seed=0) for k in (4, 8))
    # every padded position carries k ids (>= 2 B pickled) and k floats (9 B pickled)
    assert large - small >= 6 * length * 4 * 11
    assert large > our_message_bytes(view, "c", len(tokenizer), 8, seed=0)
