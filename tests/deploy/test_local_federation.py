"""The loopback launcher's pieces: config arguments, environment, and stopping whole process trees."""

from __future__ import annotations

import sys
import time

import psutil
import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from flwr.common.config import parse_config_args  # noqa: E402

from fedmkt.deploy.local import LocalFederation, config_args, flower_env  # noqa: E402

# A parent that starts a child in a session of its own (as Flower's SuperExec is started), then waits.
TREE = ("import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True); "
        "time.sleep(600)")


def test_config_args_are_what_flower_parses():
    values = {"client": "client-1", "cache": "/tmp/a b/c", "partition": 2, "timeout": 7.5, "quiet": True}
    assert parse_config_args([config_args(values)]) == values


def test_flower_processes_run_with_telemetry_and_update_checks_off(tmp_path):
    env = flower_env(tmp_path)
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["FLWR_HOME"] == str(tmp_path)
    assert env["PATH"].split(":")[0] == str(__import__("pathlib").Path(sys.executable).parent)


def test_stop_ends_a_process_and_a_descendant_that_left_its_session(tmp_path):
    fed = LocalFederation(tmp_path)
    parent = fed.spawn("tree", [sys.executable, "-c", TREE], tmp_path)
    deadline = time.monotonic() + 30
    while not (children := psutil.Process(parent.pid).children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children and children[0].pid != psutil.Process(parent.pid).pid
    fed.stop()
    assert parent.poll() is not None
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert fed.procs == {}


def test_a_connection_that_trusts_the_federations_ca_is_written(tmp_path):
    fed = LocalFederation(tmp_path, port=9999)
    text = (tmp_path / "flwr-home" / "config.toml").read_text()
    assert 'address = "127.0.0.1:9999"' in text and str(fed.tls.ca_cert) in text
