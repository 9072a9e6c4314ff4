"""TensorBoard: event files in the run folder's ``tensorboard/``, so ``tensorboard --logdir runs`` shows every run.

Written with torch's ``SummaryWriter`` (the writer transformers' ``report_to="tensorboard"`` uses):
scalars with the events' own wall times, the config as hparams and as text.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fedmkt.tracking.points import Point

FOLDER = "tensorboard"


class TensorBoardBackend:
    """One run's event files; ``start`` replaces what an earlier session of the run wrote."""

    name = "tensorboard"

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / FOLDER
        self.writer: Any = None

    def start(self, params: dict[str, Any], config_yaml: str) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        shutil.rmtree(self.folder, ignore_errors=True)  # rewritten from metrics.jsonl, so no point appears twice
        self.writer = SummaryWriter(log_dir=str(self.folder), flush_secs=10)
        for summary in hparams({k: v for k, v in params.items()}, {}):
            self.writer.file_writer.add_summary(summary)
        indented = "\n".join(f"    {line}" for line in config_yaml.splitlines())  # markdown code block
        self.writer.add_text("config", indented)

    def log(self, points: list[Point]) -> None:
        for p in points:
            self.writer.add_scalar(p.name, p.value, global_step=p.step, walltime=p.time)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, status: str) -> None:
        self.writer.close()
