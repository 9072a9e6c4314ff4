"""``fedmkt bench scale``: with a shared base, another client costs its adapter, not a model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fedmkt.bench.commands import app
from fedmkt.bench.scale import FAMILIES, measure, scale_config
from fedmkt.report.comm import parameter_bytes
from fedmkt.setup.models import SharedBases

TINY = FAMILIES["tiny"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _bytes(config) -> tuple[int, int]:
    spec = config.clients[0]
    model = SharedBases("auto", "cpu", config.seed).with_lora(spec)[0]
    adapter = parameter_bytes(model, trainable_only=True)
    return adapter, parameter_bytes(model, trainable_only=False) - adapter


def test_a_client_more_holds_one_adapter_more_when_shared_and_a_whole_model_more_when_not(tmp_path):
    one, two = (measure(scale_config(TINY, n), tmp_path / str(n)) for n in (1, 2))
    adapter, base = _bytes(scale_config(TINY, 1))
    assert two["resident_tensor_bytes"] - one["resident_tensor_bytes"] == adapter  # exact: storages counted once
    unshared = measure(scale_config(TINY, 2, share=False), tmp_path / "unshared")
    assert unshared["resident_tensor_bytes"] - two["resident_tensor_bytes"] == base
    for point in (one, two, unshared):
        assert point["tensor_peak_bytes"] == point["resident_tensor_bytes"] + point["round_tensor_peak_bytes"]
        assert point["round_tensor_peak_bytes"] > 0 and point["round_seconds"] > point["server_overhead_seconds"] > 0
    assert (two["sampled"], two["seconds_per_sampled_client"]) == (2, two["round_seconds"] / 2)


def test_a_sampled_point_counts_its_time_per_drawn_client(tmp_path):
    point = measure(scale_config(TINY, 3, per_round=1), tmp_path)
    assert (point["clients"], point["sampled"]) == (3, 1)
    assert point["seconds_per_sampled_client"] == point["round_seconds"]


def test_the_command_runs_each_point_in_its_own_process_and_prints_json():
    result = CliRunner().invoke(app, ["scale", "--tiny", "1", "--smollm2", "", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    (point,) = figures["families"]["tiny"]["points"]
    assert point["clients"] == 1 and point["peak_rss_bytes"] > point["tensor_peak_bytes"] > 0


def test_bad_client_counts_are_one_line():
    for value, message in (("1,x", "is not a comma-separated list"), ("0", "at least 1")):
        result = CliRunner().invoke(app, ["scale", "--tiny", value, "--smollm2", ""])
        assert result.exit_code != 0 and message in str(result.exception)
    result = CliRunner().invoke(app, ["scale", "--tiny", "", "--smollm2", ""])
    assert "no client counts given" in str(result.exception)
