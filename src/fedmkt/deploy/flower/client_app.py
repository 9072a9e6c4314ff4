"""The FedMKT ClientApp: a client's share of a round, its steps run as the server's message names them.

Each message carries the experiment config and the round (``job``); the steps are
``fedmkt.federation``'s, as the in-process runner runs them, and the job names which of them
this message runs (``steps``: the client steps of the round's plan between two server steps):

- ``query.info``: who the node is (client name, model, logit width, private data size);
- ``train.upload``: step 1 when the round has it, then step 2: the public top-k distributions and
  answer NLLs, returned as arrays unless the plan keeps them (LLM2SLM: ``send-topk``);
- ``train.distill``: steps 7-8 with the LLM's distributions the message carries;
- ``train.private`` (plain FedAvg): step 1 when the round has it;
  with ``privacy`` step 1 is DP-SGD: the node keeps the ledger (``NodeSession.privacy``), the reply
  says what it has spent (``privacy``) and leaves out the private phase's loss and token counts;
- ``train.fedavg``: the averaged adapter in, loaded and kept;
- ``evaluate.score``: the scores of a client not drawn this round, with its own latest adapter.

A reply returns the steps' reports, the adapter when FedAvg follows (``fedavg``), and, on the
round's last message (``last``), the client's scores on the eval set when the round is scored
(``score-method``), so scoring costs no message of its own: every message starts a ClientApp
process. A handler that fails raises, and Flower turns the exception into an error reply, which
the server logs as that client's reason for being left out of the step.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import cached_property

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedmkt.config import ExperimentConfig, parse_config
from fedmkt.core.client import Client
from fedmkt.core.participant import logit_width
from fedmkt.deploy.flower.codec import (
    adapter_to_record,
    json_record,
    payload_to_records,
    record_bool,
    record_int,
    record_str,
    record_to_adapter,
    records_to_payload,
)
from fedmkt.deploy.flower.node import NodeSession
from fedmkt.errors import FedMKTError
from fedmkt.federation import client_steps
from fedmkt.federation.plan import DISTILL, PRIVATE, UPLOAD
from fedmkt.federation.reported import Report, Reported, Reports
from fedmkt.models.lora import adapter_config_json, get_adapter_state
from fedmkt.report.comm import parameter_bytes
from fedmkt.safe_yaml import load_yaml
from fedmkt.setup.roles import private_client

app = ClientApp()


def job_of(message: Message) -> tuple[ExperimentConfig, ConfigRecord]:
    """The experiment config and the step's settings the server sent."""
    job = message.content.config_records.get("job")
    text = job.get("experiment") if job is not None else None
    if job is None or not isinstance(text, str):
        raise FedMKTError("message from the server lacks its 'job' record (experiment config)")
    source = "experiment sent by the server"
    return parse_config(load_yaml(text, source), source), job  # bounded: a YAML bomb costs one line


def session_of(message: Message, context: Context) -> tuple[NodeSession, ConfigRecord]:
    """The node's session for this message's job, in the run's state folder, and the job."""
    config, job = job_of(message)
    resume_from = record_int(job, "resume-from") if "resume-from" in job else None
    return NodeSession(config, context, record_str(job, "run-key", str(context.run_id)), resume_from), job


def _reply(message: Message, session: NodeSession, **records) -> Message:
    """The reply with the session's timings (``handler``: the whole handler, work included)."""
    session.timings["handler"] = time.perf_counter() - session.started
    content = RecordDict({**records, "timing": MetricRecord(dict(session.timings))})
    return Message(content, reply_to=message)


@app.query("info")
def info(message: Message, context: Context) -> Message:
    """Name, model and logit width of this node's client (the server registers it with them)."""
    session, _ = session_of(message, context)
    model = session.model
    vocab_size = logit_width(model)
    lora = parameter_bytes(model, trainable_only=True)
    return _reply(message, session, info=ConfigRecord({
        "name": session.spec.name, "model": session.spec.model, "vocab_size": vocab_size,
        "n_private": len(session.private), "lora_bytes": lora,
        "full_bytes": parameter_bytes(model, trainable_only=False) - lora,
    }))


class _Turn:
    """One message's steps on this node: the client they run on, what they report and what goes back."""

    def __init__(self, message: Message, context: Context) -> None:
        self.message = message
        self.session, self.job = session_of(message, context)
        self.round = record_int(self.job, "round")
        self.reports: dict[str, dict] = {}
        self.records: dict[str, ArrayRecord | ConfigRecord] = {}

    @cached_property
    def client(self) -> Client:
        """The core client, the server known by its model's tokenizer and logit width (``server-vocab``)."""
        return self.session.client(self.session.config.server.model, record_int(self.job, "server-vocab"))

    def private(self) -> None:
        """Step 1; plain FedAvg's client, with no server to know, is its private half only."""
        session = self.session
        learner = self.client if "server-vocab" in self.job else private_client(
            session.spec, *session.model_and_tokenizer, session.private, privacy=session.privacy)
        reports = client_steps.client_private(learner, session.spec, session.config.seed, self.round)
        session.save_privacy()
        self._report(reports if session.privacy is None else redacted(reports))

    def upload(self) -> None:
        data, reports = client_steps.client_upload(self.client, self.round)
        self._report(reports)
        self.session.save_own(self.round, self.client.own_nll)
        if record_bool(self.job, "send-topk", True):  # LLM2SLM: a frozen LLM learns nothing from them
            self.records["topk"], self.records["header"] = payload_to_records(data)

    def distill(self) -> None:
        self.session.restore_own(self.client, self.round)
        content = self.message.content
        data = records_to_payload(content.array_records.get("topk"), content.config_records.get("header"))
        _, reports = client_steps.client_distill(self.client, data, self.session.spec, self.session.config.seed,
                                                 self.round)
        self._report(reports)

    def _report(self, reports: Reports) -> None:
        self.reports.update({event: report.to_dict() for event, report in reports})


PRIVATE_STATISTICS = ("tokens", "mean_loss", "metrics")
"""Fields of a private phase's report computed from the private data itself, not from the DP-trained model."""


def redacted(reports: Reports) -> Reports:
    """With DP-SGD, the private phase's report without :data:`PRIVATE_STATISTICS`: they would reach the server
    outside the accountant's bound (what is left: steps and time, which the schedule and the node's speed set)."""
    return [Reported(event, _Without(report, PRIVATE_STATISTICS) if event == "train_private" else report)
            for event, report in reports]


class _Without:
    """A report whose ``to_dict`` leaves out some fields."""

    def __init__(self, report: Report, fields: tuple[str, ...]) -> None:
        self.report, self.fields = report, fields

    def to_dict(self) -> dict:
        return {k: v for k, v in self.report.to_dict().items() if k not in self.fields}


STEPS = {PRIVATE: _Turn.private, UPLOAD: _Turn.upload, DISTILL: _Turn.distill}
"""The client steps a message can name, by the plan's step names."""


def run_turn(message: Message, context: Context) -> Message:
    """The steps the job names, in order; the adapter kept; the reply (see the module docstring)."""
    turn = _Turn(message, context)
    names = [name for name in record_str(turn.job, "steps", "").split(",") if name]
    unknown = [name for name in names if name not in STEPS]
    if unknown:
        raise FedMKTError(f"job 'steps': {unknown[0]!r} is not a client step (expected some of {', '.join(STEPS)})")
    for name in names:
        STEPS[name](turn)
    session = turn.session
    session.save_adapter()
    records = dict(turn.records)
    if turn.reports:
        records["reports"] = json_record(**turn.reports)
    if record_bool(turn.job, "fedavg", False):
        records.update(_adapter_records(session))
    if record_bool(turn.job, "last", False):
        session.end_round(turn.round)
        records.update(_scores(session, turn.job))
    return _reply(message, session, **records)


app.train("upload")(run_turn)
app.train("distill")(run_turn)
app.train("private")(run_turn)


@app.train("fedavg")
def fedavg(message: Message, context: Context) -> Message:
    """Load and keep the averaged adapter the server sends (the round's last message)."""
    session, job = session_of(message, context)
    session.set_adapter(record_to_adapter(message.content.array_records.get("adapter")))
    session.end_round(record_int(job, "round"))
    return _reply(message, session, **_scores(session, job))


@app.evaluate("score")
def score(message: Message, context: Context) -> Message:
    """Scores with the node's own latest adapter: a client not drawn this round (``fedmkt.clients_per_round``)."""
    session, job = session_of(message, context)
    return _reply(message, session, **_scores(session, job))


def _adapter_records(session: NodeSession) -> dict[str, ArrayRecord | ConfigRecord]:
    """The adapter for averaging, with its peft config (so the server can save the mean in peft's format)."""
    return {"adapter": adapter_to_record(get_adapter_state(session.model)),
            "adapter-config": ConfigRecord({"json": adapter_config_json(session.model)})}


def _scores(session: NodeSession, job: ConfigRecord) -> dict[str, ConfigRecord]:
    """The model scored on the eval set when the job names a method (the round's last step)."""
    method = record_str(job, "score-method", "")
    if not method:
        return {}
    model, tokenizer = session.model_and_tokenizer
    start = time.perf_counter()
    rows = session.ctx.score(session.spec, "slm", method, model, tokenizer, round_=record_int(job, "round"))
    session.timings["score"] = time.perf_counter() - start
    return {"rows": json_record(rows=[asdict(r) for r in rows])}
