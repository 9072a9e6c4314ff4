"""A node's config names its client, model, private data and cache; mistakes are one-line errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from fedmkt.config import load_preset  # noqa: E402
from fedmkt.data.partition import FederatedSplit  # noqa: E402
from fedmkt.deploy.flower.task import (  # noqa: E402
    client_spec,
    experiment_text,
    node_cache,
    pick_experiment,
    private_examples,
    read_examples,
)
from fedmkt.errors import FedMKTError  # noqa: E402

HETEROGENEOUS = load_preset("tiny")[0]


def test_client_spec_finds_the_named_client_and_checks_its_model():
    index, spec = client_spec(HETEROGENEOUS, {"client": "client-2", "model": "tiny-qwen2-wordpiece"})
    assert (index, spec.model) == (1, "tiny-qwen2-wordpiece")
    with pytest.raises(FedMKTError, match="node config 'client': 'client-9'"):
        client_spec(HETEROGENEOUS, {"client": "client-9"})
    with pytest.raises(FedMKTError, match="node config 'model': 'tiny-gpt2-bpe'.*'tiny-qwen2-wordpiece'"):
        client_spec(HETEROGENEOUS, {"client": "client-2", "model": "tiny-gpt2-bpe"})


def test_private_data_is_a_partition_or_a_file(tmp_path):
    split = FederatedSplit(public=[], private=[["a"], ["b"], ["c"]], eval=[])
    assert private_examples(HETEROGENEOUS, split, 1, {"client": "client-2"}) == ["b"]
    assert private_examples(HETEROGENEOUS, split, 1, {"client": "client-2", "partition": 2}) == ["c"]
    with pytest.raises(FedMKTError, match="'partition': 3, expected an integer in \\[0, 3\\)"):
        private_examples(HETEROGENEOUS, split, 1, {"partition": 3})
    path = tmp_path / "private.jsonl"
    path.write_text(json.dumps({"uid": "x/1", "prompt": "Q: 2+2?\nA:", "target": " 4", "choices": [" 4", " 5"],
                                "gold": 0}) + "\n\n")
    (example,) = private_examples(HETEROGENEOUS, split, 1, {"data": str(path)})
    assert example.choices == (" 4", " 5") and example.is_multiple_choice


def test_bad_data_files_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"uid": "a", "prompt": "p", "target": " t"}\n{"uid": "b", "prompt": "p", "colour": 1}\n')
    with pytest.raises(FedMKTError, match="bad.jsonl:2: not an Example record"):
        read_examples(path)
    with pytest.raises(FedMKTError, match="is not a file"):
        read_examples(tmp_path / "missing.jsonl")


def test_cache_defaults_under_fedmkt_home(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path))
    assert node_cache({"client": "client-3"}) == tmp_path / "flower" / "client-3"
    assert node_cache({"client": "c", "cache": str(tmp_path / "x")}) == tmp_path / "x"


def test_experiments_come_from_presets_or_files(tmp_path):
    config = pick_experiment(experiment_text("preset:tiny"), "tiny-one-to-one", "preset:tiny")
    assert len(config.clients) == 1
    with pytest.raises(FedMKTError, match="no experiment named 'nope'"):
        pick_experiment(experiment_text("preset:tiny"), "nope", "preset:tiny")
    with pytest.raises(FedMKTError, match="neither preset:<name> nor an existing YAML file"):
        experiment_text(str(tmp_path / "none.yaml"))
