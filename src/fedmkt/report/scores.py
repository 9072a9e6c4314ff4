"""Per-example scores of every evaluation: what paired tests between methods need.

``results.json`` keeps one mean per (method, participant, round); two means with overlapping
intervals cannot say whether one method beats another on the same questions. So every scoring
also writes ``scores/<method>/<participant>.json`` (methods without rounds) or
``scores/<method>/<participant>/round-<N>.json``: the eval examples' uids, their scores (0/100
for accuracy, 0-100 for Rouge-L) and the predictions. A domain federation scores each domain on
its own: ``scores/<method>/<participant>/<domain>.json`` or ``.../round-<N>/<domain>.json``. A
step redone on ``--resume`` simply overwrites its file (written atomically), so a folder never
holds two versions of one score.

Some result rows are copies rather than scorings: clients that share a base model share one
SLM-ZS scoring, and under FedAvg every client holds the first client's adapter. For those methods
only (``COPIED_METHODS``), :meth:`ScoreIndex.for_row` finds the scoring by method, round, model
and an equal mean.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from fedmkt.io import atomic_write_text
from fedmkt.report.results import ResultRow

SCORES_DIR = "scores"
COPIED_METHODS = frozenset({"SLM-ZS", "FedAvg", "FedMKT-SLM-FedAvg"})
"""Methods whose rows may copy another client's scoring (``baselines.zero_shot``: one SLM-ZS scoring per
base model; ``runners.federated``: under FedAvg only the first client is scored)."""


@dataclass(frozen=True)
class ScoreRecord:
    """One scoring's per-example scores; ``value`` is their mean (as in the result row)."""

    method: str
    participant: str
    model: str
    task: str
    metric: str
    round: int | None
    value: float
    uids: list[str]
    scores: list[float]
    predictions: list[str]

    @property
    def n(self) -> int:
        return len(self.scores)


def _slug(text: str) -> str:
    """A participant or method name as one safe path component (never ``.`` or ``..``)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    return slug if slug.strip(".") else f"_{slug}"


def scores_path(run_dir: Path, method: str, participant: str, round_: int | None, domain: str | None = None) -> Path:
    """Where the scoring of ``participant`` under ``method`` (after ``round_``, if any; on ``domain``'s eval
    set, in a domain federation) is stored."""
    base = run_dir / SCORES_DIR / _slug(method)
    if domain is not None:
        folder = base / _slug(participant) / ("" if round_ is None else f"round-{round_}")
        return folder / f"{_slug(domain)}.json"
    if round_ is None:
        return base / f"{_slug(participant)}.json"
    return base / _slug(participant) / f"round-{round_}.json"


def write_scores(
    run_dir: Path, *, method: str, participant: str, model: str, task: str, metric: str, round_: int | None,
    value: float, uids: Sequence[str], scores: Sequence[float], predictions: Sequence[str], domain: bool = False,
) -> Path:
    """Write one scoring's per-example scores (atomically; overwrites a redone step's file); ``domain``:
    ``task`` is one domain of a domain federation, and names the file."""
    if not len(uids) == len(scores) == len(predictions):
        raise ValueError(f"per-example lists differ in length: {len(uids)} uids, {len(scores)} scores, "
                         f"{len(predictions)} predictions")
    record = ScoreRecord(method, participant, model, task, metric, round_, float(value), [str(u) for u in uids],
                         [float(s) for s in scores], [str(p) for p in predictions])
    path = scores_path(run_dir, method, participant, round_, task if domain else None)
    atomic_write_text(path, json.dumps(asdict(record)) + "\n")
    return path


def read_scores(path: Path) -> ScoreRecord:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ScoreRecord(**{**data, "round": data.get("round")})


class ScoreIndex:
    """Every per-example score file of one experiment folder, looked up by result row."""

    def __init__(self, records: list[ScoreRecord]) -> None:
        self.records = records
        self._exact = {(r.method, r.participant, r.round, r.metric, r.task): r for r in records}

    @classmethod
    def load(cls, run_dir: Path) -> ScoreIndex:
        """All files under ``run_dir/scores`` (an empty index for folders written before they existed)."""
        folder = run_dir / SCORES_DIR
        paths = sorted(folder.rglob("*.json")) if folder.is_dir() else []
        return cls([read_scores(p) for p in paths])

    def for_row(self, row: ResultRow) -> ScoreRecord | None:
        """The scoring behind ``row``: its own file, else the scoring it was copied from; None if neither.

        A file counts only if its mean equals the row's value, so a stale or foreign file is
        never paired with a row it did not produce.
        """
        agrees = lambda r: math.isclose(r.value, row.value, rel_tol=1e-9, abs_tol=1e-9)  # noqa: E731
        own = self._exact.get((row.method, row.participant, row.round, row.metric, row.task))
        if own is not None:
            return own if agrees(own) else None
        if row.method not in COPIED_METHODS:
            return None
        for r in self.records:
            if (r.method, r.model, r.round, r.metric, r.task) == (row.method, row.model, row.round, row.metric,
                                                                 row.task) and agrees(r):
                return r
        return None
