"""The ServerApp's run config: defaults, checks with one-line errors, the in-process runner's variants."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from fedmkt.config import load_preset  # noqa: E402
from fedmkt.deploy.flower.settings import DEFAULTS, Settings, pick_variant  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402


def test_defaults_fill_missing_keys_and_out_names_the_run():
    settings = Settings.from_run_config({}, run_id=42)
    assert settings.experiment == DEFAULTS["experiment"] and settings.method == "FedMKT"
    assert settings.out == (Path("runs") / "flower-42").resolve()
    assert settings.min_clients == 2 and settings.timeout == 600.0


@pytest.mark.parametrize("config, message", [
    ({"timeuot": 3}, "unknown key 'timeuot'"),
    ({"method": "FedProx"}, "'method': 'FedProx'"),
    ({"min-clients": 0}, "'min-clients': 0"),
    ({"min-clients": 1.5}, "'min-clients': 1.5"),
    ({"timeout": "soon"}, "'timeout': 'soon'"),
    ({"wait-nodes": True}, "'wait-nodes': True"),
    ({"client-keys": 3}, "'client-keys': 3, expected the path of a folder"),
    ({"trust-client-names": "yes"}, "'trust-client-names': 'yes', expected true or false"),
    ({"client-keys": "keys", "trust-client-names": True}, "'client-keys' and 'trust-client-names = true' contradict"),
])
def test_bad_run_config_is_one_line_naming_the_key(config, message):
    with pytest.raises(FedMKTError, match=message) as info:
        Settings.from_run_config(config, run_id=1)
    assert "\n" not in str(info.value)


def test_variant_follows_the_experiments_methods():
    heterogeneous, homogeneous, _ = load_preset("tiny")
    fedmkt = pick_variant(heterogeneous, "FedMKT")
    assert (fedmkt.slm_method, fedmkt.llm_method, fedmkt.fedavg) == ("FedMKT-SLM", "FedMKT-LLM", False)
    assert pick_variant(homogeneous, "FedMKT-FedAvg").fedavg
    with pytest.raises(FedMKTError, match="FedMKT-SLM-FedAvg or FedMKT-LLM-FedAvg"):
        pick_variant(heterogeneous, "FedMKT-FedAvg")


def test_the_federated_baselines_run_as_the_in_process_runner_runs_them():
    _, homogeneous, one_to_one = load_preset("tiny")
    fedavg = pick_variant(homogeneous, "FedAvg")
    assert (fedavg.slm_method, fedavg.llm_method, fedavg.exchange, fedavg.fedavg) == ("FedAvg", None, False, True)
    llm2slm = pick_variant(one_to_one, "LLM2SLM")
    assert (llm2slm.slm_method, llm2slm.llm_method, llm2slm.frozen_server) == ("LLM2SLM", None, True)
    assert Settings.from_run_config({"method": "LLM2SLM"}, run_id=1).method == "LLM2SLM"
    with pytest.raises(FedMKTError, match="to list LLM2SLM among its methods"):
        pick_variant(homogeneous, "LLM2SLM")


def test_resume_needs_the_run_folder_and_a_boolean():
    assert Settings.from_run_config({"resume": True, "out": "runs/x"}, run_id=3).resume
    assert not Settings.from_run_config({}, run_id=3).resume
    with pytest.raises(FedMKTError, match="'resume': needs 'out'"):
        Settings.from_run_config({"resume": True}, run_id=3)
    with pytest.raises(FedMKTError, match="'resume': 'yes', expected true or false"):
        Settings.from_run_config({"resume": "yes", "out": "runs/x"}, run_id=3)


def test_client_keys_is_a_resolved_folder_and_trusting_names_is_off_by_default(tmp_path):
    assert Settings.from_run_config({}, run_id=3).client_keys is None
    assert not Settings.from_run_config({}, run_id=3).trust_client_names
    assert Settings.from_run_config({"client-keys": str(tmp_path / "k")}, run_id=3).client_keys == tmp_path / "k"
    assert Settings.from_run_config({"trust-client-names": True}, run_id=3).trust_client_names
