"""Which messages a round went on without, and why: the "Excluded messages" section of a run's results.

A receiver validates every message (``fedmkt.core.message_checks.receive``); a bad one (undecodable,
wrong schema version or round, NaN or negative probabilities, ids out of range, unknown or
duplicated samples, larger than the public set allows) excludes its sender for that round, and a
registered sender that sent nothing is missing. The runner logs each intake to ``metrics.jsonl``
as a ``server_receive`` event (a core ``ReceiveReport``: ``phase``, ``round``, ``receiver``,
``accepted``, ``rejected`` sender -> reason, ``missing``), and a client that refuses the server's
message as a ``client_receive`` event (that client skips the round's KD). This module turns those
events into records for ``results.json``-style output and a markdown table for ``results.md``, so
a result never silently rests on fewer messages than configured.

A resumed run redoes the steps after its last checkpoint, so an intake can be logged twice; the
last record of each (phase, round, receiver, sender) wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fedmkt.report.markdown import markdown_table

RECEIVE_EVENTS = ("server_receive", "client_receive")
"""Events that carry a receiver's intake (``client_receive``: a client refusing the server's message)."""


@dataclass(frozen=True)
class Exclusion:
    """One message a receiver went without in one round.

    Attributes:
        phase: the federated procedure (``FedMKT``, ``FedMKT-FedAvg``, ...).
        round: the federated round (1-based, as logged).
        receiver: who refused or missed it (``server``).
        sender: whose message it was (a client's name, as the receiver knows it).
        kind: ``"rejected"`` (arrived, failed validation) or ``"missing"`` (never arrived).
        reason: the receiver's one-line reason.
    """

    phase: str
    round: int
    receiver: str
    sender: str
    kind: Literal["rejected", "missing"]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def excluded_messages(events: Iterable[dict[str, Any]]) -> list[Exclusion]:
    """Every rejected or missing message in ``events`` (``metrics.jsonl`` lines), in log order."""
    found: dict[tuple[str, int, str, str], Exclusion] = {}
    for event in events:
        if event.get("event") not in RECEIVE_EVENTS:
            continue
        phase, round_ = str(event.get("phase", "")), int(event.get("round", 0))
        receiver = str(event.get("receiver", "server"))
        for sender, reason in (event.get("rejected") or {}).items():
            found[(phase, round_, receiver, sender)] = Exclusion(phase, round_, receiver, sender, "rejected",
                                                                 str(reason))
        for sender in event.get("missing") or []:
            found[(phase, round_, receiver, sender)] = Exclusion(phase, round_, receiver, sender, "missing",
                                                                 "sent nothing this round")
    return list(found.values())


def has_exchange(events: Iterable[dict[str, Any]]) -> bool:
    """Whether any message intake was logged at all (so "none excluded" is a statement, not a gap)."""
    return any(event.get("event") in RECEIVE_EVENTS for event in events)


def exclusion_records(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready dicts of :func:`excluded_messages` (for a results file beside ``results.json``)."""
    return [exclusion.to_dict() for exclusion in excluded_messages(events)]


def render_exclusions(events: list[dict[str, Any]]) -> str:
    """The ``## Excluded messages`` markdown section, or ``""`` for a run that exchanged no messages."""
    if not has_exchange(events):
        return ""
    exclusions = excluded_messages(events)
    head = "\n## Excluded messages\n\n"
    if not exclusions:
        return head + "Every message was accepted: no client was left out of any round.\n"
    table = markdown_table(["Phase", "Round", "Receiver", "Client", "Excluded", "Reason"],
                           [(e.phase, e.round, e.receiver, e.sender, e.kind, e.reason) for e in exclusions], "lrllll")
    return f"{head}{len(exclusions)} message(s) were left out; each round went on with the other clients.\n\n{table}\n"
