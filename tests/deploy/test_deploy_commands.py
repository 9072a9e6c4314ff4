"""``fedmkt deploy`` commands that write files (``local`` runs a federation: see test_flower_loopback)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from fedmkt.deploy.commands import app
from fedmkt.errors import FedMKTError

runner = CliRunner()


def test_certs_node_key_and_app_write_their_files(tmp_path):
    pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")
    result = runner.invoke(app, ["certs", str(tmp_path / "tls"), "--host", "10.0.0.5", "--host", "link.lan"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "tls").iterdir()} == {"ca.crt", "ca.key", "server.pem", "server.key"}
    result = runner.invoke(app, ["node-key", str(tmp_path / "keys"), "hospital-a"])
    assert result.exit_code == 0 and "flwr supernode register" in result.output
    assert {p.name for p in (tmp_path / "keys").iterdir()} == {"hospital-a.key", "hospital-a.pub"}
    result = runner.invoke(app, ["app", str(tmp_path / "app"), "--experiment", "exp.yaml", "--experiment-name", "",
                                 "--min-clients", "3"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "app" / "pyproject.toml").read_text()
    assert 'experiment = "exp.yaml"' in text and "min-clients = 3" in text
    assert "no --client-keys: the run refuses to start" in " ".join(result.output.split())
    result = runner.invoke(app, ["app", str(tmp_path / "app"), "--client-keys", "/srv/client-keys"])
    assert result.exit_code == 0 and "refuses" not in result.output
    assert 'client-keys = "/srv/client-keys"' in (tmp_path / "app" / "pyproject.toml").read_text()


def test_without_flower_every_command_says_which_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "flwr", None)  # what an install without the extra looks like
    result = runner.invoke(app, ["certs", str(tmp_path / "tls")])
    assert isinstance(result.exception, FedMKTError)
    assert str(result.exception) == "fedmkt deploy needs the flower extra: pip install 'fedmkt[flower]'"
    assert not (tmp_path / "tls").exists()


def test_local_refuses_a_method_the_experiment_does_not_list_before_starting_anything(tmp_path):
    pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")
    result = runner.invoke(app, ["local", "--workdir", str(tmp_path / "fed"), "--experiment-name",
                                 "tiny-heterogeneous", "--method", "FedAvg"])
    assert isinstance(result.exception, FedMKTError)
    assert "to list FedAvg among its methods" in str(result.exception)
    assert not (tmp_path / "fed").exists()
