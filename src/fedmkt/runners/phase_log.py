"""A federated phase's ``metrics.jsonl`` events, and the round's wall time split by what it went to.

Every event carries the phase; a core report's fields follow (its own ``phase``, the data it
trained on, as ``data``). The report's timings add up per round into model compute and the
method's overhead (``round_end``'s breakdown, which the report's time table shows).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch import nn

from fedmkt.config import ParticipantConfig
from fedmkt.federation.reported import Report
from fedmkt.report.comm import parameter_bytes
from fedmkt.setup.callbacks import TrainingBar
from fedmkt.setup.context import RunContext

TIMING_BUCKETS = {
    "seconds": "model_compute",  # a training phase (PhaseReport)
    "compute_seconds": "model_compute",  # forward passes over the public set (MessageReport)
    "encode_seconds": "serialisation",
    "decode_seconds": "deserialisation_validation",
    "align_seconds": "alignment",
    "select_seconds": "selection",
}
"""Which core-report timing goes into which slice of a round's wall time."""


class PhaseLog:
    """Writes one phase's events; ``timings`` gives the current round's breakdown (kept in its checkpoint)."""

    def __init__(self, ctx: RunContext, phase: str, timings: Callable[[], dict[str, float]]) -> None:
        self.ctx = ctx
        self.phase = phase
        self.timings = timings

    def __call__(self, event: str, report: Report | None = None, **fields) -> None:
        """One metrics.jsonl line: the phase, then a core report's fields, then ``fields``.

        Also adds the report's timings to the round's breakdown (model compute vs overhead).
        """
        merged = dict(report.to_dict()) if report is not None else {}
        for key, bucket in TIMING_BUCKETS.items():
            if isinstance(merged.get(key), (int, float)):
                self.add_time(bucket, float(merged[key]))
        if "phase" in merged:  # a core report's own phase ("private", "public") is the data it trained on
            merged["data"] = merged.pop("phase")
        self.ctx.log.write(event, **{"phase": self.phase, **merged, **fields})

    def add_time(self, bucket: str, seconds: float) -> None:
        timings = self.timings()
        timings[bucket] = timings.get(bucket, 0.0) + seconds

    def bar(self, what: str) -> TrainingBar:
        return self.ctx.bar(f"{self.phase} {what}")

    def sizes(self, spec: ParticipantConfig, model: nn.Module) -> None:
        """``model_size``: the participant's LoRA adapter and the rest of its model, in bytes."""
        lora = parameter_bytes(model, trainable_only=True)
        self("model_size", participant=spec.name, model=spec.model, lora_bytes=lora,
             full_bytes=parameter_bytes(model, trainable_only=False) - lora)

    def round_end(self, round_: int, round_started: float, disk_io: float) -> None:
        """``round_end``: the round's wall time and its breakdown, ``other`` being what no slice names."""
        timings = self.timings()
        timings["disk_io"] = disk_io
        wall = time.perf_counter() - round_started
        timings["other"] = max(wall - sum(timings.values()), 0.0)  # glue, batching, logging
        overhead = wall - timings.get("model_compute", 0.0)
        # unrounded, so the parts add up to the wall time and the share follows from them exactly
        self("round_end", round=round_, seconds=wall, breakdown=dict(sorted(timings.items())),
             overhead_share=overhead / wall if wall else 0.0)
