"""Result rows: the one shape every method's scores take, and how they are written.

``results.json`` is a list of these rows; tables and plots are views of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from fedmkt.io import atomic_write_text


@dataclass(frozen=True)
class ResultRow:
    """One score of one model under one method.

    ``role`` is ``"llm"`` (the server's model) or ``"slm"`` (a client's model);
    ``participant`` names which one (``server``, ``client-1``, ...); ``round`` is the
    federated round the score was taken after (``None`` for methods without rounds).
    ``value`` and the interval are in percent (accuracy or Rouge-L x 100).
    """

    scenario: str
    method: str
    model: str
    role: str
    participant: str
    task: str
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    round: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> ResultRow:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def write_results(rows: list[ResultRow], path: Path) -> None:
    atomic_write_text(path, json.dumps([asdict(r) for r in rows], indent=2) + "\n")


def read_results(path: Path) -> list[ResultRow]:
    return [ResultRow.from_dict(d) for d in json.loads(path.read_text(encoding="utf-8"))]
