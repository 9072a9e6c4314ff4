"""``fedmkt deploy`` commands that write files, and what they refuse before writing anything.

``deploy app`` runs the checks the ServerApp runs at its start (and preflight on the experiment),
so every case below would otherwise fail only at ``flwr run`` time, naming a run-config key. The
written app is then read back by the ServerApp's own code from another working folder.
(``deploy local`` runs a federation: its pieces are tested in test_watch / test_local_federation.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fedmkt.deploy.commands import app
from fedmkt.errors import FedMKTError

runner = CliRunner()

EXPERIMENT = {
    "name": "mine", "task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
    "clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-opt-unigram"}],
    "data": {"public_size": 8, "private_size": 8, "eval_size": 8}, "methods": ["SLM-ZS", "FedMKT-SLM", "FedMKT-LLM"],
}


def _flower() -> None:
    pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")


def _experiment(folder: Path, **changes) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, **changes}))
    return path


def _keys(folder: Path, *clients: str) -> Path:
    """A client-keys folder as the recipe fills it: each client's node-key .pub under the client's name."""
    for client in clients:
        assert runner.invoke(app, ["node-key", str(folder / "made"), client]).exit_code == 0
        (folder / "client-keys").mkdir(exist_ok=True)
        (folder / "client-keys" / f"{client}.pub").write_bytes((folder / "made" / f"{client}.pub").read_bytes())
    return folder / "client-keys"


def _run_config(app_dir: Path) -> dict:
    import tomli  # flwr's dependency

    return tomli.loads((app_dir / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]


def test_certs_and_node_key_write_their_files(tmp_path):
    _flower()
    result = runner.invoke(app, ["certs", str(tmp_path / "tls"), "--host", "10.0.0.5", "--host", "link.lan"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "tls").iterdir()} == {"ca.crt", "ca.key", "server.pem", "server.key"}
    result = runner.invoke(app, ["node-key", str(tmp_path / "keys"), "hospital-a"])
    assert result.exit_code == 0 and "flwr supernode register" in result.output
    assert {p.name for p in (tmp_path / "keys").iterdir()} == {"hospital-a.key", "hospital-a.pub"}


def test_app_picks_the_only_experiment_stores_absolute_paths_and_the_serverapp_accepts_it(tmp_path, monkeypatch):
    _flower()
    from fedmkt.deploy.flower.identity import client_keys
    from fedmkt.deploy.flower.settings import Settings, pick_variant
    from fedmkt.deploy.flower.task import experiment_text, pick_experiment

    _experiment(tmp_path)
    _keys(tmp_path, "client-1", "client-2")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["app", "app", "--experiment", "experiment.yaml", "--out", "runs/exp-1",
                                 "--client-keys", "client-keys", "--min-clients", "2"])
    assert result.exit_code == 0, result.output
    values = _run_config(tmp_path / "app")
    assert values["experiment"] == str(tmp_path / "experiment.yaml") and values["experiment-name"] == "mine"
    assert values["out"] == str(tmp_path / "runs" / "exp-1") and values["client-keys"] == str(tmp_path / "client-keys")
    monkeypatch.chdir(tmp_path / "app")  # the ServerApp runs elsewhere: paths must not depend on the caller's folder
    settings = Settings.from_run_config(values, run_id=7)
    config = pick_experiment(experiment_text(settings.experiment), settings.experiment_name, settings.experiment)
    pick_variant(config, settings.method)
    keys = client_keys(settings.client_keys, settings.trust_client_names, ["client-1", "client-2"], config.name)
    assert config.name == "mine" and keys is not None


def _refused(args: list[str], *words: str, folder: Path) -> str:
    result = runner.invoke(app, args)
    assert isinstance(result.exception, FedMKTError), result.output
    message = str(result.exception)
    assert "\n" not in message and "run config" not in message, message
    for word in words:
        assert word in message, (word, message)
    assert not (folder / "app").exists()  # nothing written
    return message


SUITE = {"experiments": [{**EXPERIMENT, "name": "a"}, {**EXPERIMENT, "name": "b"}]}


@pytest.mark.parametrize(("case", "args", "words"), [
    ("no client keys", ["--experiment", "{exp}"], ["--client-keys: not set", "--trust-client-names"]),
    ("keys and trust", ["--experiment", "{exp}", "--client-keys", "{keys}", "--trust-client-names"],
     ["--client-keys and --trust-client-names contradict each other"]),
    ("a client without its key", ["--experiment", "{exp}", "--client-keys", "{onekey}"],
     ["--client-keys:", "client-2.pub not found"]),
    ("a suite without a name", ["--experiment", "{suite}", "--client-keys", "{keys}"],
     ["--experiment-name:", "holds 2 experiments (a, b); name the one to run"]),
    ("a misspelt experiment name", ["--experiment", "{exp}", "--experiment-name", "mien", "--client-keys", "{keys}"],
     ["--experiment-name 'mien': no such experiment", "(did you mean 'mine'?)"]),
    ("a method the experiment does not list",
     ["--experiment", "{exp}", "--method", "FedAvg", "--client-keys", "{keys}"],
     ["--method: 'FedAvg' needs the experiment 'mine' to list FedAvg among its methods"]),
    ("an unknown method", ["--experiment", "{exp}", "--method", "FedMTK", "--client-keys", "{keys}"],
     ["--method: 'FedMTK', expected one of FedMKT"]),
    ("a zero timeout", ["--experiment", "{exp}", "--timeout", "0", "--client-keys", "{keys}"],
     ["--timeout: 0.0, expected a float >= 0.001"]),
    ("more min-clients than clients", ["--experiment", "{exp}", "--min-clients", "3", "--client-keys", "{keys}"],
     ["--min-clients 3: experiment 'mine' has 2 client(s)"]),
    ("a missing experiment file", ["--experiment", "nope.yaml", "--client-keys", "{keys}"],
     ["--experiment:", "nope.yaml' is neither preset:<name> nor an existing YAML file"]),
    ("too little data", ["--experiment", "{big}", "--client-keys", "{keys}"],
     ["--experiment", "(mine): data.eval_size: 500 requested"]),
    ("a mistyped model", ["--experiment", "{typo}", "--client-keys", "{keys}"],
     ["(mine): 'clients[1].model': unknown model 'smollm-135m' (did you mean 'smollm2-135m'?)"]),
    ("a relative data path", ["--experiment", "{relative}", "--client-keys", "{keys}"],
     ["'task' is the relative path './data.jsonl'", "write it as an absolute path"]),
    ("a relative adapter path", ["--experiment", "{adapter}", "--client-keys", "{keys}"],
     ["'clients[0].adapter' is the relative path './teacher'", "write it as an absolute path"]),
])
def test_app_refuses_what_the_serverapp_would_refuse_naming_the_flag(tmp_path, monkeypatch, case, args, words):
    _flower()
    for sub in ("big", "typo", "rel", "adapter"):
        (tmp_path / sub).mkdir()
    paths = {
        "exp": _experiment(tmp_path), "keys": _keys(tmp_path, "client-1", "client-2"),
        "onekey": _keys(tmp_path / "one", "client-1"),
        "suite": tmp_path / "suite.yaml", "big": _experiment(tmp_path / "big", data={"eval_size": 500}),
        "typo": _experiment(tmp_path / "typo", clients=[{"model": "tiny-gpt2-bpe"}, {"model": "smollm-135m"}]),
        "relative": _experiment(tmp_path / "rel", task="./data.jsonl"),
        "adapter": _experiment(tmp_path / "adapter", clients=[{"model": "tiny-gpt2-bpe", "adapter": "./teacher"},
                                                              {"model": "tiny-gpt2-bpe"}]),
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(SUITE))
    monkeypatch.chdir(tmp_path)
    _refused(["app", "app", *(a.format(**paths) for a in args)], *words, folder=tmp_path)


def test_app_with_trust_client_names_warns_and_writes(tmp_path):
    _flower()
    result = runner.invoke(app, ["app", str(tmp_path / "app"), "--experiment", str(_experiment(tmp_path)),
                                 "--trust-client-names"])
    assert result.exit_code == 0, result.output
    assert "unverified" in result.output and _run_config(tmp_path / "app")["trust-client-names"] is True


def test_without_flower_every_command_says_which_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "flwr", None)  # what an install without the extra looks like
    result = runner.invoke(app, ["certs", str(tmp_path / "tls")])
    assert isinstance(result.exception, FedMKTError)
    assert str(result.exception) == "fedmkt deploy needs the flower extra: pip install 'fedmkt[flower]'"
    assert not (tmp_path / "tls").exists()


def test_local_refuses_a_method_the_experiment_does_not_list_before_starting_anything(tmp_path):
    _flower()
    result = runner.invoke(app, ["local", "--workdir", str(tmp_path / "fed"), "--method", "FedAvg"])
    assert isinstance(result.exception, FedMKTError)
    assert str(result.exception).startswith("--method: 'FedAvg' needs the experiment 'tiny-heterogeneous' to list")
    assert not (tmp_path / "fed").exists()


def test_local_refuses_a_suite_experiment_name_it_does_not_hold(tmp_path):
    _flower()
    result = runner.invoke(app, ["local", "--workdir", str(tmp_path / "fed"), "--experiment-name", "tiny-hetero"])
    assert isinstance(result.exception, FedMKTError)
    assert "--experiment-name 'tiny-hetero': no such experiment in preset:tiny" in str(result.exception)
    assert not (tmp_path / "fed").exists()


def test_a_failed_local_run_quotes_the_serverapps_own_error_from_the_flwr_run_log(tmp_path):
    from fedmkt.deploy.commands import _server_error

    (tmp_path / "flwr-run.log").write_text(  # `flwr run --stream` lines as Flower 1.41 colours them
        "\x1b[92mINFO \x1b[0m:      fedmkt: FedMKT of preset:tiny, run folder /x/run\n"
        "\x1b[91mERROR \x1b[0m:     fedmkt: round 1 upload: 1 client(s) left, fewer than min-clients=2\n")
    assert _server_error(tmp_path) == ": round 1 upload: 1 client(s) left, fewer than min-clients=2"
    assert _server_error(tmp_path / "absent") == ""
