"""What is damaged in a run folder, so ``report``, ``compare`` and ``archive`` say it instead of a traceback.

Two kinds of damage. The logs (``metrics.jsonl``, ``comm.jsonl``) and the finished phases'
records only feed the report's side tables (wall times, bytes, exclusions) or the rows of an
unfinished run: their readable part is reported and the damage listed (:func:`folder_damage`).
``results.json`` and the per-example ``scores/`` files are the figures themselves: a damaged one
is refused in one line naming it (:func:`check_figures`), since no honest table can be made
without it.
"""

from __future__ import annotations

import json
from pathlib import Path

from fedmkt.errors import FedMKTError
from fedmkt.report import journal
from fedmkt.report.events import scan_jsonl

_SHOWN = 3  # damaged places named in a one-line summary; the rest are counted


def folder_damage(path: Path) -> list[str]:
    """One line per damaged place in an experiment folder's logs and phase records (empty: none found)."""
    problems = [*scan_jsonl(path / journal.METRICS)[1], *scan_jsonl(path / journal.COMM)[1]]
    problems += journal.phase_damage(path)
    for counted in journal.log_damage(path):  # edits that still parse, lines cut short, inside the counted part
        if counted.split(", inside the part")[0] not in problems:
            problems.append(counted)
    return problems


def summary(problems: list[str]) -> str:
    """``problems`` as one line: the first few, then how many more."""
    more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return "; ".join(problems[:_SHOWN]) + more


def check_figures(path: Path) -> None:
    """Refuse, in one line, an experiment folder whose ``results.json`` or a ``scores/`` file is unreadable."""
    files = [path / "results.json", *sorted((path / "scores").rglob("*.json"))]
    for file in files:
        if not file.is_file():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise FedMKTError(f"{file}: damaged ({' '.join(str(error).split())[:120]}); the report's figures come "
                              f"from it, so nothing is reported for {path}") from None
        expected = list if file.name == "results.json" else dict
        if not isinstance(data, expected):
            raise FedMKTError(f"{file}: damaged (a JSON {type(data).__name__}, expected a {expected.__name__}); the "
                              f"report's figures come from it, so nothing is reported for {path}")
