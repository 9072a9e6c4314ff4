"""The Flower run's ``metrics.jsonl``: the in-process runner's events plus who was left out and why.

Events keep the runner's names and fields (``round_start``, ``train_private``, ``client_message``,
``server_receive``, ``server_align``, ``server_train``, ``server_message``, ``client_align``,
``client_train``, ``round_end``, ``eval``, ``model_size``) with ``"runtime": "flower"``; the
clients' reports arrive inside their replies. Flower adds ``excluded`` (round, step, client,
reason), ``node_timing`` (what each ClientApp process spent before and around its work, in
seconds) and ``run_abort``.
"""

from __future__ import annotations

from collections.abc import Mapping
from logging import WARNING

from flwr.app import Message, RecordDict
from flwr.common import log as flwr_log

from fedmkt.deploy.flower.codec import read_json
from fedmkt.deploy.flower.exchange import Exclude
from fedmkt.errors import FedMKTError
from fedmkt.report.events import EventLog
from fedmkt.report.results import ResultRow


class RunLog:
    """Writes one federated phase's events (``phase`` is the variant's name, e.g. ``FedMKT``)."""

    def __init__(self, log: EventLog, phase: str) -> None:
        self.events = log
        self.phase = phase

    def write(self, event: str, report=None, **fields) -> None:
        """One event: the phase, then a core report's fields, then ``fields``."""
        merged = _data_not_phase(report.to_dict()) if report is not None else {}
        self.events.write(event, **{"phase": self.phase, "runtime": "flower", **merged, **fields})

    def excluder(self, step: str, round_: int) -> Exclude:
        """A callback that logs a client left out of ``step`` of ``round_`` (event and warning)."""
        def exclude(name: str, reason: str) -> None:
            flwr_log(WARNING, "round %s %s: client %s left out: %s", round_, step, name, reason)
            self.write("excluded", round=round_, step=step, client=name, reason=reason)
        return exclude

    def replies(self, replies: Mapping[str, Message], round_: int, keys: tuple[str, ...]) -> None:
        """Each reply's ``node_timing`` and the client's reports named ``keys``."""
        for name, reply in replies.items():
            timing = reply.content.metric_records.get("timing")
            self.write("node_timing", round=round_, client=name,
                       **({k: float(v) for k, v in timing.items() if isinstance(v, int | float)} if timing else {}))
            reports = reply.content.config_records.get("reports")
            for key in keys:
                if reports is not None and key in reports:
                    report = read_json(reports, key)
                    if isinstance(report, dict):
                        self.events.write(key, **{"phase": self.phase, "runtime": "flower", "round": round_,
                                                  **_data_not_phase(report)})


def rows_of(name: str, content: RecordDict) -> list[ResultRow]:
    """The score rows in a client's reply; they must all be about that client."""
    found = read_json(content.config_records.get("rows"), "rows")
    if not isinstance(found, list):
        raise FedMKTError("score rows are not a list of result rows")
    try:
        rows = [ResultRow.from_dict(d) for d in found]
    except (TypeError, AttributeError) as err:
        raise FedMKTError(f"score rows are not result rows ({err})") from None
    if any(r.participant != name for r in rows):
        raise FedMKTError(f"score rows name another participant than {name!r}")
    return rows


def _data_not_phase(report: dict) -> dict:
    """A core report's ``phase`` is the data it trained on (``private``/``public``), logged as ``data``."""
    report = dict(report)
    if "phase" in report:
        report["data"] = report.pop("phase")
    return report
