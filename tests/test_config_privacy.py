"""The privacy: sections of an experiment (top level, per client): each bad one is one line naming its field."""

from __future__ import annotations

import pytest

from fedmkt.config import PrivacyConfig, dump_config, parse_config, parse_configs
from fedmkt.errors import FedMKTError

BASE = {"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
        "clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-gpt2-bpe"}]}
OK = {"target_epsilon": 4.0, "max_grad_norm": 1.0}


def _error(data: dict) -> str:
    with pytest.raises(FedMKTError) as caught:
        parse_config(data, "x.yaml")
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def _client(privacy: object, index: int = 1) -> dict:
    clients = [dict(c) for c in BASE["clients"]]
    clients[index]["privacy"] = privacy
    return {**BASE, "clients": clients}


@pytest.mark.parametrize(("privacy", "field", "why"), [
    ({"target_epsilon": 0, "max_grad_norm": 1.0}, "privacy.target_epsilon", "greater than 0"),
    ({"target_epsilon": -2, "max_grad_norm": 1.0}, "privacy.target_epsilon", "greater than 0"),
    ({"noise_multiplier": 0, "max_grad_norm": 1.0}, "privacy.noise_multiplier", "greater than 0"),
    ({"noise_multiplier": 1.0}, "privacy.max_grad_norm", "clipping bound"),
    ({"noise_multiplier": 1.0, "max_grad_norm": None}, "privacy.max_grad_norm", "clipping bound"),
    ({"noise_multiplier": 1.0, "max_grad_norm": 0}, "privacy.max_grad_norm", "greater than 0"),
    ({**OK, "delta": 1}, "privacy.delta", "less than 1"),
    ({**OK, "delta": 0}, "privacy.delta", "greater than 0"),
    ({"max_grad_norm": 1.0}, "privacy", "expected target_epsilon"),
    ({**OK, "accountant": "gdp"}, "privacy.accountant", "'rdp' or 'prv'"),
    ({**OK, "epsilon": 3}, "privacy.epsilon", "unknown key"),
])
def test_a_bad_privacy_section_is_one_line_naming_the_field_at_the_top_and_on_a_client(privacy, field, why):
    top = _error({**BASE, "privacy": privacy})
    assert f"'{field}'" in top and why in top
    client = _error(_client(privacy))
    assert f"'clients.1.{field}'" in client and why in client


def test_yes_is_not_a_privacy_section_and_the_server_has_none():
    assert "'clients.0.privacy'" in _error(_client(True, 0))
    assert "'server.privacy'" in _error({**BASE, "server": {**BASE["server"], "privacy": OK}})


def test_a_client_section_replaces_the_top_level_one_and_off_turns_it_off():
    config = parse_config({**_client(False, 0), "privacy": OK, "clients": [
        {"model": "tiny-gpt2-bpe", "privacy": False}, {"model": "tiny-gpt2-bpe", "privacy": {**OK, "delta": 1e-6}},
    ]}, "x.yaml")
    assert config.client_privacy(config.clients[0]) is None
    assert config.client_privacy(config.clients[1]) == PrivacyConfig(**OK, delta=1e-6)
    plain = parse_config({**BASE, "privacy": OK}, "x.yaml")
    assert all(plain.client_privacy(c) == PrivacyConfig(**OK) for c in plain.clients)
    assert parse_configs(dump_config(config), "dumped") == [config]  # off survives the resolved config.yaml


def test_centralized_llm_is_left_out_of_a_private_runs_defaults_and_refused_when_asked_for():
    assert "Centralized-LLM" in parse_config(BASE, "x.yaml").method_names
    private = parse_config({**BASE, "privacy": OK}, "x.yaml")
    assert "Centralized-LLM" not in private.method_names and "Standalone" in private.method_names
    message = _error({**BASE, "privacy": OK, "methods": ["Standalone", "Centralized-LLM"]})
    assert "'methods': Centralized-LLM pools every client's private data" in message
    only_off = parse_config({**BASE, "privacy": OK, "clients": [{**c, "privacy": False} for c in BASE["clients"]],
                             "methods": ["Centralized-LLM"]}, "x.yaml")  # no client private: nothing to refuse
    assert only_off.method_names == ["Centralized-LLM"]
