"""``make gpu-check`` / ``fedmkt bench gpu-check``: one round on the GPU in bf16 scores as on the CPU in fp32.

Two runs of one round each, the tiny preset's heterogeneous experiment and the default models
(Gemma-3-270M server, two SmolLM2-135M clients, on a small ARC-Easy split): once on the CPU in
float32, once with ``runtime.device: cuda`` and ``runtime.dtype: bfloat16`` (each base model placed
once on the GPU, ``runtime.share_base``). Every result row (method, participant, metric) must agree
within the tolerance, in points of the metric (accuracy in %): a bf16 forward pass flips the odd
close call, one round of bf16 training moves the adapters a little further, so trained rows get a
wider bound than zero-shot ones. No GPU: one line saying so, before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fedmkt.config import ExperimentConfig, load_preset, parse_config
from fedmkt.errors import FedMKTError
from fedmkt.report.results import ResultRow

ZERO_SHOT = {"LLM-ZS", "SLM-ZS"}
TOLERANCE = 5.0
"""Points a trained row (after one round) may differ by: 3 of the tiny preset's 64 eval answers, 5 of 100."""
ZERO_SHOT_TOLERANCE = 3.0
"""Points a zero-shot row may differ by: the same weights, only bf16 arithmetic."""

DEFAULT_SIZES = {"public_size": 16, "private_size": 16, "eval_size": 100}
"""The default models on a split small enough for the CPU reference run (minutes, not an hour)."""


def require_gpu() -> str:
    """The GPU's name; a one-line `FedMKTError` when torch sees none (the check cannot run without one)."""
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise FedMKTError(f"bench gpu-check: no CUDA GPU is visible to torch {torch.__version__} ({build}); "
                          "nothing was run (install a CUDA build of torch on a machine with an NVIDIA GPU)")
    return torch.cuda.get_device_name(0)


def one_round(config: ExperimentConfig, device: str, dtype: str, **data: int) -> ExperimentConfig:
    """``config`` cut to one round on ``device`` in ``dtype`` (and, if given, the ``data`` sizes)."""
    raw = config.model_dump(mode="json")
    raw["fedmkt"]["rounds"] = 1
    raw["runtime"] = {**raw["runtime"], "device": device, "dtype": dtype, "autocast": "off"}
    raw["data"] = {**raw["data"], **data}
    return parse_config(raw, f"gpu-check ({config.name}, {device})")


@dataclass(frozen=True)
class RowDiff:
    method: str
    participant: str
    metric: str
    cpu: float
    gpu: float | None  # None: the GPU run has no such row
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.gpu is not None and abs(self.gpu - self.cpu) <= self.tolerance


def compare(cpu: list[ResultRow], gpu: list[ResultRow], tolerance: float = TOLERANCE,
            zero_shot_tolerance: float = ZERO_SHOT_TOLERANCE) -> list[RowDiff]:
    """Every CPU row against the GPU row of the same method, participant, metric and round."""
    found = {(r.method, r.participant, r.metric, r.round): r.value for r in gpu}
    return [RowDiff(r.method, r.participant, r.metric, r.value, found.get((r.method, r.participant, r.metric, r.round)),
                    zero_shot_tolerance if r.method in ZERO_SHOT else tolerance) for r in cpu]


def gpu_check(work: Path, tolerance: float = TOLERANCE) -> dict:
    """Both runs on both devices under ``work``; the rows' differences and whether all are within tolerance."""
    from fedmkt.runners.local import run_suite  # bench sits above the runners

    gpu_name = require_gpu()
    checks = {"tiny": (load_preset("tiny")[0], {}), "default": (load_preset("default")[0], DEFAULT_SIZES)}
    result: dict = {"gpu": gpu_name, "tolerance": tolerance, "zero_shot_tolerance": ZERO_SHOT_TOLERANCE, "runs": {}}
    for name, (config, sizes) in checks.items():
        rows = {}
        for device, dtype in (("cpu", "float32"), ("cuda", "bfloat16")):
            torch.cuda.reset_peak_memory_stats()
            rows[device] = run_suite([one_round(config, device, dtype, **sizes)], work / name / device,
                                     show_progress=False)
        diffs = compare(rows["cpu"], rows["cuda"], tolerance)
        result["runs"][name] = {"experiment": config.name, "gpu_peak_bytes": torch.cuda.max_memory_allocated(),
                                "rows": [{**d.__dict__, "ok": d.ok} for d in diffs]}
    result["ok"] = all(row["ok"] for run in result["runs"].values() for row in run["rows"])
    return result
