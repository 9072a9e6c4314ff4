"""``tracking.report_to`` end to end through the CLI: a tiny run killed and resumed, read back from TensorBoard's
event files and MLflow's SQLite store, against the run's own results, ledger and log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from runners.resume_helpers import events, run_cli, write_config

pytest.importorskip("mlflow", reason="pip install 'fedmkt[tracking]'")
pytest.importorskip("tensorboard", reason="pip install 'fedmkt[tracking]'")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

METHODS = ["Standalone", "FedMKT-SLM"]
KILL = {"event": {"event": "eval", "phase": "FedMKT-SLM/client-1"}}  # round 1's scoring, redone on resume


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """Started from one directory with overrides (MLflow's default store there), killed in round 1's scoring,
    resumed from another directory: the store recorded in the run folder is the one used."""
    root = tmp_path_factory.mktemp("tracked")
    (root / "a").mkdir(), (root / "b").mkdir()
    run_dir = root / "run"
    config = write_config(root / "config.yaml", methods=METHODS)
    killed = _cli_in(root / "a", "run", str(config), "tracking.report_to=all", "--out", str(run_dir),
                     "--no-progress", kill=KILL)
    assert killed.returncode < 0, killed.stderr[-2000:]
    done = _cli_in(root / "b", "run", "--resume", str(run_dir), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    return run_dir, f"sqlite:///{root / 'a' / 'mlflow.db'}"


def _cli_in(cwd: Path, *args: str, kill: dict | None = None) -> subprocess.CompletedProcess:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        return run_cli(*args, kill=kill)


def _same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    """Equal steps, values equal to float32 precision (TensorBoard stores float32)."""
    got, expected = sorted(got), sorted(expected)
    return [s for s, _ in got] == [s for s, _ in expected] and [v for _, v in got] == pytest.approx(
        [v for _, v in expected], rel=1e-6)


def _tensorboard(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def _mlflow_run(store: str):
    runs = MlflowClient(store).search_runs([e.experiment_id for e in MlflowClient(store).search_experiments()])
    assert len(runs) == 1, [r.info.run_id for r in runs]  # the killed session's run was deleted
    return runs[0]


def test_the_override_reached_the_run_folders_config(resumed):
    run_dir, _ = resumed
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["tracking"]["report_to"] == ["tensorboard", "mlflow"]


def test_scores_per_round_are_the_runs_results(resumed):
    run_dir, store = resumed
    results = json.loads((run_dir / "results.json").read_text())
    rows = results["rows"] if isinstance(results, dict) else results
    expected = defaultdict(list)
    for row in rows:
        if row["metric"] == "acc":
            phase = f"{row['method']}/{row['participant']}"
            expected[f"eval/{phase}/acc"].append((row["round"] or 0, row["value"]))
    scalars = _tensorboard(run_dir)
    history = MlflowClient(store).get_metric_history
    run = _mlflow_run(store)
    assert {"eval/FedMKT-SLM/client-1/acc", "eval/Standalone/client-2/acc"} <= set(expected)
    for tag, points in expected.items():
        assert _same(scalars[tag], points), tag
        assert _same([(m.step, m.value) for m in history(run.info.run_id, tag)], points), tag


def test_losses_per_optimiser_step_and_per_round_are_the_logs(resumed):
    run_dir, _ = resumed
    log = events(run_dir)
    steps = [e["loss"] for e in log if e["event"] == "train_step" and e["phase"] == "Standalone/client-1"]
    assert steps
    scalars = _tensorboard(run_dir)
    assert _same(scalars["train/Standalone/client-1/loss"], list(enumerate(steps, start=1)))
    private = [(e["round"], e["mean_loss"]) for e in log if e["event"] == "train_private"
               and e["participant"] == "client-2"]
    assert [r for r, _ in private] == [1, 2]
    assert _same(scalars["train/FedMKT/client-2/private_loss"], private)


def test_bytes_per_round_are_the_ledgers(resumed):
    run_dir, store = resumed
    ledger = [json.loads(line) for line in (run_dir / "comm.jsonl").read_text().splitlines()]
    up = {r: sum(m["bytes"] for m in ledger if m["round"] == r and m["receiver"] == "server") for r in (1, 2)}
    down = {r: sum(m["bytes"] for m in ledger if m["round"] == r and m["sender"] == "server") for r in (1, 2)}
    assert all(up.values()) and all(down.values())
    scalars = _tensorboard(run_dir)
    assert scalars["comm/FedMKT/up_bytes"] == [(1, up[1]), (2, up[2])]
    assert scalars["comm/FedMKT/down_bytes"] == [(1, down[1]), (2, down[2])]
    run = _mlflow_run(store)
    assert run.data.metrics["comm/FedMKT/down_bytes"] == down[2]  # the latest value


def test_a_resumed_run_shows_each_point_once_in_both_trackers(resumed):
    run_dir, store = resumed
    assert any(e["event"] == "run_resume" for e in events(run_dir))
    scalars = _tensorboard(run_dir)
    assert all(len({s for s, _ in points}) == len(points) for points in scalars.values())
    run = _mlflow_run(store)
    history = MlflowClient(store).get_metric_history
    for tag in scalars:
        steps = [m.step for m in history(run.info.run_id, tag)]
        assert len(set(steps)) == len(steps) and sorted(steps) == sorted(s for s, _ in scalars[tag]), tag
    assert run.info.status == "FINISHED"
    recorded = json.loads((run_dir / "tracking.json").read_text())["mlflow"]
    assert recorded["uri"] == store and recorded["run_id"] == run.info.run_id


def test_the_config_is_in_both_trackers(resumed):
    run_dir, store = resumed
    run = _mlflow_run(store)
    assert run.data.params["fedmkt.rounds"] == "2" and run.data.params["clients.1.model"] == "tiny-qwen2-wordpiece"
    assert run.info.run_name == "run" and run.data.tags["fedmkt.run_dir"] == str(run_dir.resolve())
    accumulator = EventAccumulator(str(run_dir / "tensorboard"))
    accumulator.Reload()
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["fedmkt.rounds"].number_value == 2 and hparams["task"].string_value == "tiny_qa"
    assert "fedmkt" in accumulator.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()


def test_a_missing_extra_is_one_line_naming_the_install(tmp_path):
    """``tensorboard`` hidden from the import system: the CLI refuses before anything is written."""
    config = write_config(tmp_path / "config.yaml", methods=["SLM-ZS"])
    hide = ("import importlib.util as u, sys; found = u.find_spec; "
            "u.find_spec = lambda name, *a: None if name == 'tensorboard' else found(name, *a); "
            "from fedmkt.cli import main; sys.argv = ['fedmkt', *sys.argv[1:]]; main()")
    for command in (["validate", str(config)], ["run", str(config), "--out", str(tmp_path / "out")]):
        done = subprocess.run([sys.executable, "-c", hide, *command, "tracking.report_to=tensorboard"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2
        assert done.stderr.strip() == ("error: tracking.report_to names tensorboard, which needs tensorboard (not "
                                       "installed): pip install 'fedmkt[tracking]'")
    assert not (tmp_path / "out").exists()
