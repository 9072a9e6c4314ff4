"""The FedMKT ClientApp: one client's steps of a round, each a Flower message handler.

Message types (the server's ``fedmkt.deploy.flower.server_app`` sends them in this order):

- ``query.info``: who the node is (client name, model, logit width, private data size);
- ``train.upload`` (steps 1-2): SFT on the private data, then the public top-k distributions
  and answer NLLs, returned as arrays (LLM2SLM: kept for DualMinCE, not sent: ``send-topk``);
- ``train.distill`` (steps 7-8): the LLM's distributions in, DualMinCE choice, alignment and
  SFT+KD on the public set; returns the reports (and the adapter when FedAvg follows);
- ``train.fedavg``: the averaged adapter in, loaded and kept;
- ``train.private`` (plain FedAvg): SFT on the private data, the adapter returned.

The round's last message (``distill``, or ``fedavg`` when adapters are averaged) also asks for
the client's scores on the eval set when the round is scored (``score-method`` in the job), so
scoring costs no message of its own: every message starts a ClientApp process.

Every message carries the experiment config (``job``); a handler that fails raises, and
Flower turns the exception into an error reply, which the server logs as that client's
reason for being left out of the step.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedmkt.config import ExperimentConfig, parse_config
from fedmkt.core.messages import MessageRejected
from fedmkt.core.participant import logit_width
from fedmkt.core.reports import ReceiveReport
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
from fedmkt.federation.plan import trains_private
from fedmkt.models.lora import adapter_config_json, get_adapter_state
from fedmkt.report.comm import parameter_bytes
from fedmkt.safe_yaml import load_yaml
from fedmkt.setup.roles import private_client
from fedmkt.setup.training import round_args

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


@app.train("upload")
def upload(message: Message, context: Context) -> Message:
    """Steps 1-2: private SFT (every round, or round 1 only), then the public distributions."""
    session, job = session_of(message, context)
    config = session.config
    round_, fm = record_int(job, "round"), config.fedmkt
    client = session.client(config.server.model, record_int(job, "server-vocab"))
    reports = {}
    if trains_private(fm, round_):
        reports["train_private"] = client.train_private(round_args(session.spec, config.seed, round_)).to_dict()
    data, report = client.public_payload(round_)
    reports["client_message"] = report.to_dict()
    session.save_adapter()
    session.save_own(round_, client.own_nll)
    if not record_bool(job, "send-topk", True):  # LLM2SLM: a frozen LLM learns nothing from the distributions
        return _reply(message, session, reports=json_record(**reports))
    arrays, header = payload_to_records(data)
    return _reply(message, session, topk=arrays, header=header, reports=json_record(**reports))


@app.train("distill")
def distill(message: Message, context: Context) -> Message:
    """Steps 7-8: the LLM's message, DualMinCE choice and alignment, then SFT+KD on the public set."""
    session, job = session_of(message, context)
    config = session.config
    round_ = record_int(job, "round")
    client = session.client(config.server.model, record_int(job, "server-vocab"))
    session.restore_own(client, round_)
    data = records_to_payload(message.content.array_records.get("topk"), message.content.config_records.get("header"))
    try:
        aligned = client.receive_llm(data, round=round_)
    except MessageRejected as rejected:  # as in-process: no KD this round, the privately trained adapter stays
        refused = ReceiveReport.refusal(client.name, round_, "server", rejected.reason, len(data))
        records: dict[str, ArrayRecord | ConfigRecord] = {
            "reports": json_record(client_receive=refused.to_dict())}
    else:
        trained = client.train_public(round_args(session.spec, config.seed, round_))
        session.save_adapter()
        records = {"reports": json_record(client_align=aligned.to_dict(), client_train=trained.to_dict())}
    if record_bool(job, "fedavg", False):
        records.update(_adapter_records(session))
    else:  # the client's last message of the round
        session.end_round(round_)
    return _reply(message, session, **records, **_scores(session, job))


@app.train("fedavg")
def fedavg(message: Message, context: Context) -> Message:
    """Load and keep the averaged adapter the server sends."""
    session, job = session_of(message, context)
    session.set_adapter(record_to_adapter(message.content.array_records.get("adapter")))
    session.end_round(record_int(job, "round"))
    return _reply(message, session, **_scores(session, job))


@app.train("private")
def private(message: Message, context: Context) -> Message:
    """Plain FedAvg's step: private SFT (every round, or round 1 only), the adapter up for averaging."""
    session, job = session_of(message, context)
    config, spec = session.config, session.spec
    round_ = record_int(job, "round")
    reports = {}
    if trains_private(config.fedmkt, round_):
        model, tokenizer = session.model_and_tokenizer
        client = private_client(spec, model, tokenizer, session.private)
        reports["train_private"] = client.train_private(round_args(spec, config.seed, round_)).to_dict()
        session.save_adapter()
    return _reply(message, session, **_adapter_records(session), reports=json_record(**reports))


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
