"""Experiment tracking as transformers' ``report_to``: a run's events, live, in TensorBoard and MLflow.

``tracking.report_to`` in the config (``tensorboard``, ``mlflow``, ``all``) attaches a sink to the
run's event log (``report.events.EventLog``): every event written to ``metrics.jsonl`` also goes,
as it is written, to the trackers as scores per round, training losses (per optimiser step where
the run logs steps, per round otherwise), bytes per round from the comm ledger and round times
(``tracking.points``), with the resolved config as params / hparams.

The trackers mirror the log. On opening they are written afresh from what ``metrics.jsonl``
holds (after ``--resume`` has cut it back), then follow it live, so a resumed run shows no point
twice. They need the ``tracking`` extra: ``pip install 'fedmkt[tracking]'``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from fedmkt.config import ExperimentConfig, dump_config
from fedmkt.errors import FedMKTError
from fedmkt.report.events import read_jsonl, scan_jsonl
from fedmkt.tracking.points import Points, config_params
from fedmkt.tracking.sink import Backend, TrackerSink

EXTRA = "pip install 'fedmkt[tracking]'"
_MODULES = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}
"""What each tracker imports (MLflow's SQLite store needs sqlalchemy and alembic)."""


def require_installed(configs: Sequence[ExperimentConfig]) -> None:
    """Refuse in one line, before a run writes anything, a tracker whose packages are not installed."""
    for name in dict.fromkeys(t for c in configs for t in c.tracking.report_to):
        missing = [m for m in _MODULES[name] if importlib.util.find_spec(m) is None]
        if missing:
            raise FedMKTError(f"tracking.report_to names {name}, which needs {', '.join(missing)} (not installed): "
                              f"{EXTRA}")


def _comm_bytes(run_dir: Path):
    """(phase, round) -> (bytes up, bytes down) from the run's comm ledger as it stands."""
    def read(phase: str, round_: int) -> tuple[int, int]:
        records, _ = scan_jsonl(run_dir / "comm.jsonl")
        mine = [r for r in records if r.get("method") == phase and r.get("round") == round_]
        up = sum(int(r.get("bytes", 0)) for r in mine if r.get("receiver") == "server")
        return up, sum(int(r.get("bytes", 0)) for r in mine) - up

    return read


def _run_name(run_dir: Path) -> str:
    """The run folder's name; an experiment of a suite is ``<suite>/<experiment>``."""
    return f"{run_dir.parent.name}/{run_dir.name}" if (run_dir.parent / "run.json").is_file() else run_dir.name


def open_trackers(config: ExperimentConfig, run_dir: Path) -> list[TrackerSink]:
    """The sinks for ``EventLog(..., sinks=)``: none without ``report_to``, else one that feeds every tracker.

    The trackers start afresh and are first sent what ``run_dir/metrics.jsonl`` already holds.
    """
    if not config.tracking.report_to:
        return []
    require_installed([config])
    backends: list[Backend] = []
    for name in config.tracking.report_to:
        if name == "tensorboard":
            from fedmkt.tracking.tensorboard_backend import TensorBoardBackend

            backends.append(TensorBoardBackend(run_dir))
        else:
            from fedmkt.tracking.mlflow_backend import MlflowBackend

            backends.append(MlflowBackend(run_dir, config.tracking.mlflow_uri,
                                          config.tracking.mlflow_experiment or config.name, _run_name(run_dir)))
    params, text = config_params(config.model_dump(mode="json")), dump_config(config)
    for backend in backends:
        backend.start(params, text)
    sink = TrackerSink(backends, Points(_comm_bytes(run_dir)))
    sink.replay(read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").is_file() else [])
    return [sink]
