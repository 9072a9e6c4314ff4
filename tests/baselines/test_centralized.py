"""Centralized-LLM: what it trains on follows public_sft, and its adapter can start another run's LLM (experiment C)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.report.scores import read_scores, scores_path
from fedmkt.runners.local import run_experiment

SIDE = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "train": {"lr": 3e-3, "batch_size": 1, "max_length": 48, "warmup_ratio": 0.0}}
CONFIG = {"name": "c", "task": "tiny_qa", "server": {"model": "tiny-llama-unigram", **SIDE},
          "clients": [{"model": "tiny-gpt2-bpe", **SIDE}, {"model": "tiny-gpt2-bpe", **SIDE}],
          "data": {"public_size": 5, "private_size": 6, "eval_size": 10}, "eval": {"bootstrap": 100},
          "methods": ["Centralized-LLM"]}
PURE_KD = {"public_sft": False, "kd_weight": 1.0, "unmatched_weight": 0.0}


def _run(out: Path, **changes) -> Path:
    run_experiment(parse_config({**CONFIG, **changes}, "test"), out, show_progress=False, console=Console(quiet=True))
    return out


def _steps(run_dir: Path) -> int:
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (end,) = [e for e in events if e["event"] == "train_end" and e["phase"] == "Centralized-LLM/server"]
    return end["steps"]


def test_the_public_answers_are_centralized_training_data_only_where_the_federation_trains_on_them(tmp_path):
    """One example per step: 2 x 6 private + 5 public with public_sft, the 12 private alone without."""
    assert _steps(_run(tmp_path / "with")) == 17
    assert _steps(_run(tmp_path / "without", fedmkt=PURE_KD)) == 12


def test_a_run_that_starts_its_llm_from_the_centralized_adapter_scores_what_that_adapter_scored(tmp_path):
    """LLM-ZS of the base model with the adapter merged in: the same answers, question by question."""
    teacher = _run(tmp_path / "teacher", server={**CONFIG["server"], "train": {**SIDE["train"], "lr": 1e-2,
                                                                               "epochs": 4}})
    adapter = teacher / "adapters" / "Centralized-LLM" / "server"
    server = {**CONFIG["server"], "adapter": str(adapter)}
    student = _run(tmp_path / "student", server=server, methods=["LLM-ZS"])
    before = read_scores(scores_path(teacher, "Centralized-LLM", "server", None))
    after = read_scores(scores_path(student, "LLM-ZS", "server", None))
    assert after.uids == before.uids and after.predictions == before.predictions
    plain = read_scores(scores_path(_run(tmp_path / "plain", methods=["LLM-ZS"]), "LLM-ZS", "server", None))
    assert plain.predictions != after.predictions  # the adapter is what made the difference


def test_an_adapter_folder_that_is_not_one_is_refused_before_the_run_naming_the_field(tmp_path):
    with pytest.raises(FedMKTError, match=r"^'server.adapter': no peft adapter at .*nowhere.* \(no adapter_config"):
        _run(tmp_path / "out", server={**CONFIG["server"], "adapter": str(tmp_path / "nowhere")}, methods=["LLM-ZS"])
    assert not (tmp_path / "out").exists()
