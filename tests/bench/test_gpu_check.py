"""``make gpu-check``: refuses in one line without a GPU; rows compared within the stated tolerance."""

from __future__ import annotations

import os
import subprocess
import sys

from fedmkt.bench.gpu_check import TOLERANCE, ZERO_SHOT_TOLERANCE, compare, one_round
from fedmkt.config import load_preset
from fedmkt.report.results import ResultRow


def _row(method: str, participant: str, value: float) -> ResultRow:
    return ResultRow(scenario="s", method=method, model="m", role="slm", participant=participant, task="t",
                     metric="acc", value=value, n=64, ci_low=0.0, ci_high=100.0, round=1)


def test_without_a_gpu_the_check_is_one_line_and_runs_nothing(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "fedmkt.cli", "bench", "gpu-check", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: bench gpu-check: no CUDA GPU is visible to torch") and "nothing was run" in line
    assert not (tmp_path / "o").exists()


def test_rows_agree_within_their_tolerance_and_a_missing_row_fails():
    cpu = [_row("SLM-ZS", "client-1", 50.0), _row("FedMKT-SLM", "client-1", 50.0), _row("FedMKT-SLM", "client-2", 40)]
    gpu = [_row("SLM-ZS", "client-1", 50.0 + ZERO_SHOT_TOLERANCE), _row("FedMKT-SLM", "client-1", 50 - TOLERANCE)]
    diffs = compare(cpu, gpu)
    assert [(d.participant, d.tolerance, d.ok) for d in diffs] == [
        ("client-1", ZERO_SHOT_TOLERANCE, True), ("client-1", TOLERANCE, True), ("client-2", TOLERANCE, False)]
    assert not compare([_row("SLM-ZS", "client-1", 50.0)], [_row("SLM-ZS", "client-1", 53.5)])[0].ok


def test_each_run_is_one_round_on_the_device_in_the_dtype():
    config = one_round(load_preset("default")[0], "cuda", "bfloat16", eval_size=100)
    assert (config.fedmkt.rounds, config.runtime.device, config.runtime.dtype, config.data.eval_size) == (
        1, "cuda", "bfloat16", 100)
    assert config.clients == load_preset("default")[0].clients
