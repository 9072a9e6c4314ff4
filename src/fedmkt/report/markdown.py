"""Markdown tables: the one shape every table of a report, a comparison and a Flower run shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

_RULES = {"l": "---", "r": "---:"}


def cell(value: object) -> str:
    """A value as one table cell: on one line, its ``|`` escaped (cells may carry a sender's text)."""
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str) -> str:
    """A GitHub markdown table.

    Args:
        header: the column titles.
        rows: one sequence of values per row, as many as titles; each becomes a :func:`cell`.
        align: one letter per column, ``l`` (text) or ``r`` (numbers).
    """
    if len(align) != len(header) or set(align) - set(_RULES):
        raise ValueError(f"align: expected one of 'l'/'r' per column ({len(header)}), got {align!r}")
    lines = ["| " + " | ".join(cell(title) for title in header) + " |",
             "|" + "|".join(_RULES[a] for a in align) + "|"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines)
