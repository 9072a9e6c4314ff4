"""The ServerApp's record of finished rounds, so that a new ``flwr run`` can continue a stopped run.

A Flower run lives as long as its ServerApp process: if that process or the SuperLink stops,
``flwr run`` starts a new run with a new run id. ``flower-state.json`` in the run folder says
where to pick up, and is replaced atomically after the server's adapter of each round is on
disk, so it never names a round whose files are not all there:

- ``run_key``: the name of the clients' state folders on their nodes (``runs/<run key>/``), kept
  across resumes (the first run's Flower run id), so every node finds its adapters again;
- ``round``: the last round the server finished (0: none yet); its adapter is
  ``adapters/<phase>/round-<round>/server``;
- ``rows``: the result rows scored so far; ``metrics_size`` / ``comm_size``: the lengths of
  ``metrics.jsonl`` and ``comm.jsonl`` at that moment, to cut off the events and messages of the
  unfinished round.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_text
from fedmkt.report.results import ResultRow

FILE = "flower-state.json"


@dataclass
class FlowerRunState:
    """What a resumed ServerApp needs from the stopped one (see the module docstring)."""

    run_key: str
    method: str
    round: int = 0
    rows: list[ResultRow] = field(default_factory=list)
    metrics_size: int = 0
    comm_size: int = 0

    def save(self, out: Path) -> None:
        data = {**asdict(self), "rows": [asdict(r) for r in self.rows]}
        atomic_write_text(out / FILE, json.dumps(data, indent=1))

    @classmethod
    def load(cls, out: Path) -> FlowerRunState:
        """The state of the run in ``out``; a clear error when there is none or it is unreadable."""
        path = out / FILE
        if not path.is_file():
            raise FedMKTError(f"run config 'resume': {path} not found; 'out' must be the folder of a Flower run "
                              f"of fedmkt to continue")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = [ResultRow.from_dict(r) for r in data.pop("rows")]
            return cls(**data, rows=rows)
        except (ValueError, TypeError, KeyError) as err:
            raise FedMKTError(f"{path}: not a run state written by fedmkt ({err})") from None
