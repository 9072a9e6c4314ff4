"""Opening the trackers of a run folder: nothing without report_to, the log so far replayed, suite run names."""

import json

import pytest

from fedmkt.config import parse_config
from fedmkt.report.events import EventLog
from fedmkt.tracking import _run_name, open_trackers

BASE = {"name": "exp", "task": "tiny_qa", "server": {"model": "a"}, "clients": [{"model": "b"}]}


def test_without_report_to_no_tracker_is_opened_and_nothing_is_written(tmp_path):
    assert open_trackers(parse_config(BASE, "test"), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_the_log_so_far_is_replayed_into_a_fresh_tracker_then_followed_live(tmp_path):
    pytest.importorskip("tensorboard", reason="pip install 'fedmkt[tracking]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = parse_config({**BASE, "tracking": {"report_to": ["tensorboard"]}}, "test")
    log = EventLog(tmp_path / "metrics.jsonl")
    log.write("eval", phase="SLM-ZS/client-1", metric="acc", value=20.0, n=4)
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events.out.tfevents.0.old").write_bytes(b"")  # an earlier session's file
    log.sinks += open_trackers(config, tmp_path)
    log.write("eval", phase="Standalone/client-1", metric="acc", value=30.0, n=4)
    log.write("run_end", seconds=1.0)
    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    assert [(e.step, e.value) for e in accumulator.Scalars("eval/SLM-ZS/client-1/acc")] == [(0, 20.0)]
    assert [(e.step, e.value) for e in accumulator.Scalars("eval/Standalone/client-1/acc")] == [(0, 30.0)]
    assert not (tmp_path / "tensorboard" / "events.out.tfevents.0.old").exists()
    assert [json.loads(line)["event"] for line in log.path.read_text().splitlines()] == ["eval", "eval", "run_end"]


def test_an_experiment_of_a_suite_is_named_with_its_suite(tmp_path):
    (tmp_path / "suite" / "a").mkdir(parents=True)
    (tmp_path / "suite" / "run.json").write_text("{}")
    (tmp_path / "single").mkdir()
    assert _run_name(tmp_path / "suite" / "a") == "suite/a" and _run_name(tmp_path / "single") == "single"


def test_a_store_mlflow_refuses_is_one_line_naming_the_field(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="pip install 'fedmkt[tracking]'")
    from fedmkt.errors import FedMKTError

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    config = parse_config({**BASE, "tracking": {"report_to": "mlflow", "mlflow_uri": f"file://{tmp_path}/ml"}}, "t")
    with pytest.raises(FedMKTError, match=r"^tracking.mlflow_uri 'file://.*': MLflow refused it \(The filesystem "):
        open_trackers(config, tmp_path)
