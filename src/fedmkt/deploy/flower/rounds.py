"""One round of ``fedmkt.federation``'s plan over Flower: the client steps as messages, the server's here.

The plan's steps run in order. The client steps between two server steps go to each client as
one message (``train.upload``, ``train.distill`` or ``train.private``, named after the last of
them), whose job lists them; every client is asked at least once a round, before the server's
first step. The first message goes to every client drawn for the round (``fedmkt.clients_per_round``;
by default every registered client) whose node is connected; the later ones to the clients still in
the round. A client is left out of the rest of the round, with its
reason (an ``excluded`` event), when it does not answer, answers with an error or a reply that
cannot be read, or sends an upload the core rejects; the run stops when fewer than
``min-clients`` are left (``run_abort``).

The server's steps are the same functions the in-process runner calls; the bytes between them
travel as records (``fedmkt.deploy.flower.codec``) and are counted in ``comm.jsonl`` as the
in-process runner counts them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flwr.app import Message, RecordDict

from fedmkt.deploy.flower.codec import (
    adapter_to_record,
    payload_to_records,
    record_nbytes,
    record_to_adapter,
    records_to_payload,
)
from fedmkt.deploy.flower.exchange import parse_replies
from fedmkt.errors import FedMKTError
from fedmkt.federation import server_steps
from fedmkt.federation.client_steps import EVENTS
from fedmkt.federation.plan import (
    CLIENTS,
    DISTILL,
    FEDAVG,
    SELECT,
    SERVER_MESSAGE,
    SERVER_TRAIN,
    UPLOAD,
    RoundPlan,
    Step,
)
from fedmkt.federation.reported import Reports

if TYPE_CHECKING:
    from fedmkt.deploy.flower.federation import FlowerFederation

MESSAGES = {UPLOAD: "upload", DISTILL: "distill"}
"""A message's name by the last client step it carries (otherwise ``private``)."""


class FlowerRound:
    """Walks one round's plan; :meth:`run` returns the last reply of each client that finished the round."""

    def __init__(self, federation: FlowerFederation, plan: RoundPlan) -> None:
        self.fed = federation
        self.plan = plan
        self.round = plan.round
        self.replies: dict[str, Message] | None = None  # the clients still in the round, by their last reply
        self.asked = ""  # the last message's name
        self.payload: tuple[bytes, RecordDict] | None = None  # the server's message, for the next client turn

    def run(self) -> dict[str, Message]:
        steps = self.plan.steps
        turn: list[Step] = []
        for i, step in enumerate(steps):
            if step.role == CLIENTS:
                turn.append(step)
                continue
            if turn or self.replies is None:
                self._turn(turn, rest=steps[i:])
                turn = []
            {SELECT: self._select, SERVER_TRAIN: self._server_train, SERVER_MESSAGE: self._server_message,
             FEDAVG: self._fedavg}[step.name]()
        if turn:
            self._turn(turn, rest=())
        assert self.replies is not None
        return self.replies

    # -- the clients' steps: one message each turn ---------------------------------------------
    def _turn(self, steps: list[Step], rest: tuple[Step, ...]) -> None:
        """``steps`` to every client still in the round; ``rest``: the plan's steps after them.

        The clients' last message of the round (no client step or FedAvg in ``rest``) asks for their
        scores and has them keep their adapter as the round's; before FedAvg, the reply carries the adapter.
        """
        fed, round_ = self.fed, self.round
        name = MESSAGES.get(steps[-1].name, "private") if steps else "private"
        then = rest[0] if rest else None
        last = not any(s.role == CLIENTS or s.name == FEDAVG for s in rest)
        scored = last and CLIENTS in self.plan.scored
        job = fed.job(round_, steps=",".join(s.name for s in steps), last=last,
                      fedavg=then is not None and then.name == FEDAVG, **{"send-topk": any(s.sent for s in steps)},
                      **{"score-method": (fed.variant.slm_method or "") if scored else ""}, **fed.take_resume_job())
        exclude = fed.runlog.excluder(name, round_)
        if self.replies is None:
            replies = fed.ask_online(f"train.{name}", name, round_, job)
        else:
            contents = {n: RecordDict({"job": job}) for n in self.replies}
            if self.payload is not None:  # the server's message goes with this turn
                data, records = self.payload
                for n in contents:
                    contents[n] = RecordDict({"job": job, **records})
                    fed.ledger.record(method=fed.variant.phase, round=round_, sender="server", receiver=n,
                                      kind="topk", nbytes=len(data))
                self.payload = None
            replies = fed.exchange.ask(f"train.{name}", round_, contents, fed.nodes, exclude)
        fed.runlog.replies(replies, round_, tuple(event for s in steps for event in EVENTS[s.name]))
        if then is None or then.name != SELECT:  # the server's intake counts the accepted uploads itself
            fed.require(replies, round_, name)
        self.replies, self.asked = replies, name

    # -- the server's steps ------------------------------------------------------------------------
    def _log(self, reports: Reports, **fields) -> None:
        for event, report in reports:
            self.fed.runlog.write(event, report, round=self.round, **fields)

    def _select(self) -> None:
        """Step 3: the uploads read and received (a rejected one leaves its client out), then aligned."""
        fed, round_, replies = self.fed, self.round, self.replies
        assert replies is not None
        what = f"train.{self.asked}"
        exclude = fed.runlog.excluder(self.asked, round_)
        uploads = parse_replies(replies, lambda _, c: records_to_payload(c.array_records.get("topk"),
                                                                         c.config_records.get("header")),
                                exclude, what)
        for name, data in uploads.items():
            fed.ledger.record(method=fed.variant.phase, round=round_, sender=name, receiver="server", kind="topk",
                              nbytes=len(data))
        accepted, rejected, reports = server_steps.server_receive(fed.llm, uploads, round_, fed.sample)
        for name, reason in rejected.items():
            exclude(name, f"{what}: message rejected: {reason}")
        self._log(reports)
        fed.require(accepted, round_, self.asked)
        self._log(server_steps.server_select(fed.llm))
        self.replies = {name: replies[name] for name in accepted}

    def _server_train(self) -> None:
        config = self.fed.config
        self._log(server_steps.server_train(self.fed.llm, config.server, config.seed, self.round))

    def _server_message(self) -> None:
        data, reports = server_steps.server_message(self.fed.llm, self.round)
        arrays, header = payload_to_records(data)
        self._log(reports, flower_array_bytes=record_nbytes(arrays))
        self.payload = (data, RecordDict({"topk": arrays, "header": header}))

    def _fedavg(self) -> None:
        """The adapters the clients sent with their last reply averaged; the mean to each (their last message)."""
        fed, round_, replies = self.fed, self.round, self.replies
        assert replies is not None
        exclude = fed.runlog.excluder("fedavg", round_)
        states = parse_replies(replies, lambda _, c: record_to_adapter(c.array_records.get("adapter")), exclude,
                               f"train.{self.asked} adapter")
        names = [n for n in fed.nodes if n in states]
        fed.require(names, round_, "fedavg")
        try:
            mean, _ = server_steps.fedavg({n: states[n] for n in names}, {n: fed.sizes[n] for n in names})
        except FedMKTError as err:  # adapters of different shapes: nothing to average
            raise FedMKTError(f"round {round_} fedavg: {err}") from None
        fed.save_mean(round_, mean, replies[names[0]])
        record = adapter_to_record(mean)
        nbytes = sum(t.numel() * t.element_size() for t in mean.values())  # as the in-process ledger counts
        scored = CLIENTS in self.plan.scored
        job = fed.job(round_, last=True, **{"score-method": (fed.variant.slm_method or "") if scored else ""})
        for name in names:
            for sender, receiver in ((name, "server"), ("server", name)):
                fed.ledger.record(method=fed.variant.phase, round=round_, sender=sender, receiver=receiver,
                                  kind="lora", nbytes=nbytes)
        self.replies = fed.exchange.ask("train.fedavg", round_,
                                        {n: RecordDict({"job": job, "adapter": record}) for n in names},
                                        fed.nodes, exclude)
        fed.runlog.write("fedavg", round=round_, clients=names, weights=[fed.sizes[n] for n in names],
                         flower_array_bytes=record_nbytes(record))
