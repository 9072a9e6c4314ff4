"""The app folder ``flwr run`` submits: valid for Flower, naming our two apps, kept in sync in ``deploy/``."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

import tomli  # noqa: E402
from flwr.common.config import validate_config  # noqa: E402

from fedmkt.deploy.flower.project import app_pyproject, write_app  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "flower-app" / "pyproject.toml"


def test_generated_app_passes_flowers_own_validation_with_importable_components(tmp_path):
    folder = write_app(tmp_path / "app", {"out": "/srv/runs/one", "timeout": 30.0})
    config = tomli.loads((folder / "pyproject.toml").read_text())
    valid, errors, warnings = validate_config(config, check_module=True, project_dir=folder)
    assert (valid, errors, warnings) == (True, [], [])
    assert config["tool"]["flwr"]["app"]["config"]["out"] == "/srv/runs/one"


@pytest.mark.parametrize("run_config, message", [
    ({"rounds": 3}, "unknown key 'rounds'"),
    ({"method": "FedProx"}, "'method': 'FedProx', expected one of FedMKT, FedMKT-FedAvg, LLM2SLM, FedAvg"),
    ({"timeout": 0}, "'timeout': 0"),
    ({"resume": True}, "'resume': needs 'out'"),
])
def test_a_bad_run_config_is_refused_when_the_app_is_written(run_config, message):
    with pytest.raises(FedMKTError, match=message):
        app_pyproject(run_config)


def test_the_app_shipped_in_deploy_is_what_fedmkt_deploy_app_writes():
    assert SHIPPED.read_text() == app_pyproject(), "regenerate it: fedmkt deploy app deploy/flower-app"
