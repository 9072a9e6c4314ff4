"""MLflow: one MLflow run per fedmkt run, in a local SQLite store by default (no server).

The store is ``tracking.mlflow_uri``, else ``$MLFLOW_TRACKING_URI``, else MLflow's own default (a
SQLite file ``mlflow.db`` in the working directory, which ``mlflow ui`` opens). The run folder's
``tracking.json`` records the store and the MLflow run, so a resume (from any directory) finds
them: the earlier MLflow run is deleted and a new one written from ``metrics.jsonl``, so no point
appears twice. Calls go through ``MlflowClient``, not the fluent API, so no global "active run"
is left behind in the caller's process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedmkt.errors import FedMKTError, shown
from fedmkt.io import atomic_write_text
from fedmkt.tracking.points import Point

STATE = "tracking.json"
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param's value
_BATCH = 100  # params per log_batch call (MLflow's limit)


def _recorded(run_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((run_dir / STATE).read_text(encoding="utf-8")).get("mlflow")
    except (OSError, ValueError, AttributeError):
        return {}
    return state if isinstance(state, dict) else {}


class MlflowBackend:
    """One MLflow run; ``start`` deletes the run an earlier session of this run folder wrote."""

    name = "mlflow"

    def __init__(self, run_dir: Path, uri: str | None, experiment: str, run_name: str) -> None:
        self.run_dir, self.experiment, self.run_name = run_dir, experiment, run_name
        self.earlier = _recorded(run_dir)
        self.uri = uri or self.earlier.get("uri")
        self.client: Any = None
        self.run_id = ""

    def start(self, params: dict[str, Any], config_yaml: str) -> None:
        import mlflow
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.uri = self.uri or mlflow.get_tracking_uri()
        try:
            self.client = MlflowClient(tracking_uri=self.uri)
            if self.earlier.get("uri") == self.uri and self.earlier.get("run_id"):
                try:
                    self.client.delete_run(self.earlier["run_id"])
                except MlflowException:  # deleted by hand, or the store was replaced: nothing to undo
                    pass
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                experiment_id = self.client.create_experiment(self.experiment)
            else:
                experiment_id = found.experiment_id
                if found.lifecycle_stage == "deleted":
                    self.client.restore_experiment(experiment_id)
            run = self.client.create_run(experiment_id, run_name=self.run_name,
                                         tags={"fedmkt.run_dir": str(self.run_dir.resolve())})
        except MlflowException as error:
            reason = str(error).split(". ")[0]
            raise FedMKTError(f"tracking.mlflow_uri {shown(self.uri)}: MLflow refused it ({reason}); expected a "
                              "SQLite URI such as sqlite:///mlflow.db, or a tracking server's address") from None
        self.run_id = run.info.run_id
        atomic_write_text(self.run_dir / STATE, json.dumps(
            {"mlflow": {"uri": self.uri, "experiment": self.experiment, "run_id": self.run_id}}, indent=1) + "\n")
        items = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + _BATCH])

    def log(self, points: list[Point]) -> None:
        from mlflow.entities import Metric

        self.client.log_batch(self.run_id, metrics=[Metric(p.name, p.value, int(p.time * 1000), p.step)
                                                    for p in points])

    def flush(self) -> None:
        """Every call above is already committed to the store."""

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)
