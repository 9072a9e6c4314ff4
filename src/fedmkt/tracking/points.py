"""What a tracker shows of a run: its events (``metrics.jsonl`` records) as named scalar points.

Names group as TensorBoard and MLflow users expect: ``eval/<phase>/<metric>`` (a score, at the
round it was taken after; 0 outside the rounds), ``train/<phase>/loss`` (per optimiser step, where
the run logs steps), ``train/<phase>/<participant>/<data>_loss`` (a round's training on private
or public data, at that round), ``comm/<phase>/up_bytes|down_bytes`` (the comm ledger's bytes of
a round) and ``time/<phase>/round_seconds``. The translation is a pure function of the event
sequence, so replaying the log gives the same points as the live run did.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_STEP_KEYS = ("loss", "lr", "grad_norm")
_NOT_ALLOWED = re.compile(r"[^\w\-. :]")  # MLflow's metric names: letters, digits, _ - . space : and /


@dataclass(frozen=True)
class Point:
    """One scalar of a named series at an integer step; ``time`` is the event's (seconds since the epoch)."""

    name: str
    value: float
    step: int
    time: float


def series_name(*parts: object) -> str:
    """A name both trackers accept: path components kept, other characters and ``.``/``..`` made ``_``."""
    components = [c for part in parts for c in str(part).split("/") if c]
    cleaned = [_NOT_ALLOWED.sub("_", c) for c in components]
    return "/".join("_" if c in (".", "..") else c for c in cleaned)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _where(phase: str, participant: Any) -> str:
    """``Standalone/client-1`` names its participant already; ``FedMKT`` does not."""
    if not participant or phase.split("/")[-1] == participant:
        return phase
    return f"{phase}/{participant}"


CommBytes = Callable[[str, int], tuple[int, int]]
"""(phase, round) -> (bytes up, bytes down) of that round, from the comm ledger."""


class Points:
    """Turns each event into points; keeps the round in progress and each step series' count."""

    def __init__(self, comm: CommBytes | None = None) -> None:
        self.comm = comm
        self.round: int | None = None
        self.steps: Counter[str] = Counter()

    def __call__(self, event: dict[str, Any]) -> list[Point]:
        kind, phase = event.get("event"), str(event.get("phase", ""))
        time = _number(event.get("time")) or 0.0
        if kind in ("phase_start", "phase_end", "phase_skipped"):
            self.round = None
        if kind in ("round_start", "phase_resumed") and isinstance(event.get("round"), int):
            self.round = event["round"]

        def point(name: str, value: Any, step: int) -> list[Point]:
            number = _number(value)
            return [] if number is None else [Point(name, number, step, time)]

        out: list[Point] = []
        if kind == "eval":
            step = self.round or 0
            out += point(series_name("eval", phase, event.get("metric", "score")), event.get("value"), step)
            for key, value in event.items():  # acc_norm, acc_pmi: the extra scores that carry an interval
                if f"{key}_ci_low" in event:
                    out += point(series_name("eval", phase, key), value, step)
        elif kind == "train_step":
            where = series_name("train", _where(phase, event.get("participant")))
            self.steps[where] += 1
            for key, value in event.items():
                if key in _STEP_KEYS or (key.endswith("_loss") and key != "loss"):
                    out += point(f"{where}/{series_name(key)}", value, self.steps[where])
        elif "mean_loss" in event and isinstance(event.get("round"), int):  # a round's training of one participant
            base = series_name("train", phase, event.get("participant", ""), event.get("data", "train"))
            out += point(f"{base}_loss", event["mean_loss"], event["round"])
            for key, value in (event.get("metrics") or {}).items():
                out += point(f"{base}_{series_name(key)}", value, event["round"])
        elif kind == "round_end" and isinstance(event.get("round"), int):
            rnd = event["round"]
            out += point(series_name("time", phase, "round_seconds"), event.get("seconds"), rnd)
            out += point(series_name("time", phase, "overhead_share"), event.get("overhead_share"), rnd)
            if self.comm is not None:
                up, down = self.comm(phase, rnd)
                if up or down:
                    out += point(series_name("comm", phase, "up_bytes"), up, rnd)
                    out += point(series_name("comm", phase, "down_bytes"), down, rnd)
        return out


def config_params(data: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """The resolved config as flat ``a.b.c`` keys (lists of sections by item number), for params / hparams.

    Values stay numbers and booleans where they are; null and lists of values become text.
    """
    import json

    flat: dict[str, str | int | float | bool] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")
        elif isinstance(value, (str, int, float, bool)):
            flat[key] = value
        else:
            flat[key] = json.dumps(value)

    walk(data, "")
    return flat
