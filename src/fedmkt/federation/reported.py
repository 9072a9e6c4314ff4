"""What a step reports: core reports, each under the ``metrics.jsonl`` event it is logged as.

A step returns them; the transport logs them where it runs (the in-process runner into its
log, a Flower client into its reply, which the ServerApp logs), so both write the same events.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Report(Protocol):
    """A core report (``fedmkt.core.reports``): a frozen record with a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict: ...


class Reported(NamedTuple):
    event: str
    report: Report


Reports = list[Reported]
