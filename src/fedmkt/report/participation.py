"""Which clients took part in which round, when a run draws a sample of them (``fedmkt.clients_per_round``).

Both transports log the round's draw as a ``clients_sampled`` event (phase, round, ``clients``
drawn, ``of`` how many). A drawn client can still miss the rest of the round: its upload rejected
or missing (``server_receive``), or on Flower its node silent, gone or failing (``excluded``, with
the step).
The table says, per round, who took part to the end, who was drawn but left out and where, and
who was not drawn (kept its adapter). A resumed run logs a redone round again; the last record wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fedmkt.report.exclusions import excluded_messages
from fedmkt.report.markdown import markdown_table


@dataclass
class RoundParticipation:
    """One round of one phase: the clients drawn, out of how many, and the drawn ones left out (-> step)."""

    phase: str
    round: int
    drawn: list[str]
    of: int
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def took_part(self) -> list[str]:
        return [name for name in self.drawn if name not in self.left_out]


def participation(events: Iterable[dict[str, Any]]) -> list[RoundParticipation]:
    """Every sampled round in ``events`` (``metrics.jsonl`` lines), in log order of first appearance."""
    events = list(events)
    rounds: dict[tuple[str, int], RoundParticipation] = {}
    for event in events:
        if event.get("event") == "clients_sampled":
            key = (str(event.get("phase")), int(event["round"]))
            rounds[key] = RoundParticipation(*key, [str(c) for c in event.get("clients") or []], int(event["of"]))
    for event in events:  # Flower: a client left out of a step of the round
        found = rounds.get((str(event.get("phase")), int(event.get("round") or 0)))
        if event.get("event") == "excluded" and found and event.get("client") in found.drawn:
            found.left_out.setdefault(str(event["client"]), str(event.get("step")))
    for exclusion in excluded_messages(events):  # the server went on without its upload
        found = rounds.get((exclusion.phase, exclusion.round))
        if found and exclusion.sender in found.drawn:
            found.left_out.setdefault(exclusion.sender, f"upload {exclusion.kind}")
    return list(rounds.values())


def render_participation(events: Iterable[dict[str, Any]]) -> str:
    """The ``## Clients per round`` markdown section, or ``""`` for a run where every client took every round."""
    rounds = participation(events)
    if not rounds:
        return ""
    rows = [(r.phase, r.round, f"{len(r.took_part)} of {r.of}", ", ".join(r.took_part) or "none",
             ", ".join(f"{name} ({step})" for name, step in r.left_out.items()) or "-") for r in rounds]
    table = markdown_table(["Phase", "Round", "Took part", "Clients", "Drawn, left out (step)"], rows, "lrrll")
    return ("## Clients per round\n\nEach round's clients were drawn from the run's seed and the round "
            "(`fedmkt.clients_per_round`); a client not drawn kept its adapter.\n\n" + table + "\n")
