"""The Flower app folder ``flwr run`` submits: a ``pyproject.toml`` naming fedmkt's two apps.

The code itself is the installed ``fedmkt`` package on every host (``pip install 'fedmkt[flower]'``);
the app bundle (FAB) carries only this file, so the SuperLink and SuperNodes run with
``--disable-runtime-dependency-installation`` / without ``--allow-runtime-dependency-installation``
and never try to install anything from the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import tomli_w

from fedmkt.deploy.flower.settings import DEFAULTS, Settings
from fedmkt.io import atomic_write_text

SERVER_APP = "fedmkt.deploy.flower.server_app:app"
CLIENT_APP = "fedmkt.deploy.flower.client_app:app"


def app_pyproject(run_config: Mapping[str, str | int | float] | None = None) -> str:
    """The app's ``pyproject.toml`` text; ``run_config`` overrides :data:`~settings.DEFAULTS`."""
    config = {**DEFAULTS, **dict(run_config or {})}
    Settings.from_run_config(config, run_id=0)  # a bad key or value stops here, not in the ServerApp
    try:
        fedmkt_version = version("fedmkt")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        fedmkt_version = "0.1.0"
    document = {
        "build-system": {"requires": ["setuptools>=68"], "build-backend": "setuptools.build_meta"},
        "project": {
            "name": "fedmkt-flower",
            "version": fedmkt_version,
            "description": "FedMKT on Flower: the ServerApp and ClientApp of the fedmkt package",
            "license": "Apache-2.0",
            "dependencies": [f"fedmkt[flower]=={fedmkt_version}"],
        },
        "tool": {"flwr": {"app": {
            "publisher": "fedmkt",
            "components": {"serverapp": SERVER_APP, "clientapp": CLIENT_APP},
            "config": config,
        }}},
    }
    header = "# Written by `fedmkt deploy app`; the run config keys are documented in fedmkt.deploy.flower.settings.\n"
    return header + tomli_w.dumps(document)


def write_app(folder: Path, run_config: Mapping[str, str | int | float] | None = None) -> Path:
    """Write the app folder (``pyproject.toml`` only) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "pyproject.toml", app_pyproject(run_config))
    return folder
