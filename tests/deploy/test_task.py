"""A node's config names its client, model, private data and cache; mistakes are one-line errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from fedmkt.config import load_preset  # noqa: E402
from fedmkt.data.partition import FederatedSplit  # noqa: E402
from fedmkt.data.tasks import get_task  # noqa: E402
from fedmkt.deploy.flower.task import (  # noqa: E402
    client_spec,
    experiment_text,
    node_cache,
    pick_experiment,
    private_examples,
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
    path = tmp_path / "private.jsonl"  # docs/data.md's format, as a task: file is written
    path.write_text(json.dumps({"id": 1, "question": "2+2?", "choices": ["4", "5"], "answer": "4"}) + "\n\n")
    (example,) = private_examples(HETEROGENEOUS, split, 1, {"client": "client-2", "data": str(path)})
    assert example.choices == (" 4", " 5") and example.gold == 0 and example.is_multiple_choice
    assert example.prompt == "Question: 2+2?\nAnswer:" and example.uid == "client-2/private/1"


def test_a_nodes_data_file_reads_as_the_same_file_does_as_a_task(tmp_path):
    """One format: the examples a node trains on are the ones `task: <file>` gives the in-process runner."""
    path = tmp_path / "quiz.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"question": "Capital of France?", "target": "Paris"},
        {"prompt": "Translate 'chat':", "references": ["cat", "a cat"]},
    ]) + "\n")
    on_node = private_examples(HETEROGENEOUS, FederatedSplit([], [[]], []), 0, {"client": "c", "data": str(path)})
    as_task = get_task(str(path)).load("train")
    assert [(e.prompt, e.target, e.references) for e in on_node] == [(e.prompt, e.target, e.references)
                                                                    for e in as_task]


def test_bad_data_files_name_the_field_and_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "target": "t"}\n{"question": "q", "colour": 1}\n')
    with pytest.raises(FedMKTError, match=r"node config 'data': .*bad.jsonl:2: unknown field 'colour'"):
        private_examples(HETEROGENEOUS, FederatedSplit([], [[]], []), 0, {"data": str(path)})
    with pytest.raises(FedMKTError, match="node config 'data': .*missing.jsonl: not a file"):
        private_examples(HETEROGENEOUS, FederatedSplit([], [[]], []), 0, {"data": str(tmp_path / "missing.jsonl")})
    internal = tmp_path / "internal.jsonl"  # the old internal record schema is no longer a second format
    internal.write_text('{"uid": "a", "prompt": "p", "target": " t"}\n')
    with pytest.raises(FedMKTError, match="unknown field 'uid'"):
        private_examples(HETEROGENEOUS, FederatedSplit([], [[]], []), 0, {"data": str(internal)})


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
