"""What a node accepts from the server before any work: the experiment config it is sent is bounded YAML."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from flwr.app import ConfigRecord, RecordDict  # noqa: E402

from fedmkt.deploy.flower.client_app import job_of  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402

EXPERIMENT = {"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"}, "clients": [{"model": "tiny-gpt2-bpe"}]}


def _message(experiment: str) -> SimpleNamespace:
    """What ``job_of`` reads of a Flower Message: its content (a Message needs a running Flower task)."""
    return SimpleNamespace(content=RecordDict({"job": ConfigRecord({"experiment": experiment, "round": 1})}))


def test_the_experiment_a_server_sends_is_parsed_into_its_config():
    config, job = job_of(_message(yaml.safe_dump(EXPERIMENT)))
    assert config.clients[0].name == "client-1" and job["round"] == 1


def test_an_alias_bomb_from_the_server_costs_one_line_not_the_nodes_memory():
    levels = [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = "\n".join([yaml.safe_dump(EXPERIMENT), "x0: &a0 [a, a, a, a, a, a, a, a, a, a]", *levels, "seed: *a9"])
    with pytest.raises(FedMKTError) as info:
        job_of(_message(bomb))
    assert str(info.value).startswith("experiment sent by the server: with its aliases (*name) expanded")
