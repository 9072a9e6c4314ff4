"""Federated phases driven in-process: FedMKT (and its FedAvg variant), LLM2SLM and plain FedAvg.

The runner only moves bytes between the core's `Server` and `Client` objects and records what
happened; every algorithmic step lives in `fedmkt.core`. A Flower deployment drives the same
objects with real transport.

A round is a list of named steps; each is checkpointed when it finishes (``runners.checkpoint``),
so ``fedmkt run --resume`` continues after the last finished step, not from round 1. A step that
fails (a non-finite loss, a rejected message) stops the run with :class:`StepFailed`; the
checkpoint before it stays as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from fedmkt.config import ParticipantConfig
from fedmkt.core.client import Client, PrivateClient
from fedmkt.core.fedavg import fedavg_clients
from fedmkt.core.messages import MessageRejected
from fedmkt.core.reports import ReceiveReport
from fedmkt.core.server import Server
from fedmkt.errors import FedMKTError
from fedmkt.io import DiskWriteError, writing
from fedmkt.models.lora import load_adapter, save_adapter
from fedmkt.report.comm import CommLedger, parameter_bytes
from fedmkt.report.results import ResultRow
from fedmkt.runners.checkpoint import Changed, PhaseCheckpoint, PhaseState, Saved, StepFailed, restore_rng
from fedmkt.runners.variants import (
    Variant,
    should_score,
    trains_private,
)
from fedmkt.setup.callbacks import TrainingBar
from fedmkt.setup.context import RunContext
from fedmkt.setup.roles import build_client, build_server, private_client
from fedmkt.setup.training import round_args

_TIMING_BUCKETS = {
    "seconds": "model_compute",  # a training phase (PhaseReport)
    "compute_seconds": "model_compute",  # forward passes over the public set (MessageReport)
    "encode_seconds": "serialisation",
    "decode_seconds": "deserialisation_validation",
    "align_seconds": "alignment",
    "select_seconds": "selection",
}
"""Which core-report timing goes into which slice of a round's wall time."""


Step = Callable[[], Changed]
"""A step of a round; returns what it changed, for the checkpoint (``PhaseCheckpoint.commit``)."""


class FederatedPhase:
    """One federated procedure from model loading to the last round's scores.

    Each round is a list of named steps (:meth:`_steps`); after each one the phase is checkpointed
    (``runners.checkpoint``), and with ``ctx.resume`` it continues after the last committed step.
    """

    def __init__(self, ctx: RunContext, variant: Variant) -> None:
        self.ctx = ctx
        self.variant = variant
        self.cfg = ctx.config
        self.ledger = CommLedger(ctx.run_dir / "comm.jsonl")
        self.store = PhaseCheckpoint(ctx.run_dir, variant.phase)
        self.state = PhaseState()
        self.started = time.perf_counter()
        self.earlier_seconds = 0.0  # the phase's time in earlier sessions (resume)

    @property
    def timings(self) -> dict[str, float]:
        """The current round's wall-time breakdown (kept in the checkpoint across a resume)."""
        return self.state.timings

    def log(self, event: str, report=None, **fields) -> None:
        """One metrics.jsonl line: the phase, then a core report's fields, then ``fields``.

        Also adds the report's timings to the round's breakdown (model compute vs overhead).
        """
        merged = dict(report.to_dict()) if report is not None else {}
        for key, bucket in _TIMING_BUCKETS.items():
            if isinstance(merged.get(key), (int, float)):
                self.timings[bucket] = self.timings.get(bucket, 0.0) + float(merged[key])
        if "phase" in merged:  # a core report's own phase ("private", "public") is the data it trained on
            merged["data"] = merged.pop("phase")
        self.ctx.log.write(event, **{"phase": self.variant.phase, **merged, **fields})

    def bar(self, what: str) -> TrainingBar:
        return self.ctx.bar(f"{self.variant.phase} {what}")

    def run(self) -> list[ResultRow]:
        saved = self.store.load(self._participants()) if self.ctx.resume and self.store.exists() else None
        if saved is None:
            self.store.discard()  # leftovers of an attempt killed before its first commit
        server, clients = self._build(log_sizes=saved is None)  # sizes are logged once, on the first attempt
        if saved is not None:
            self._restore(saved, server, clients)
        for round_ in range(self.state.round, self.cfg.fedmkt.rounds + 1):
            if round_ != self.state.round:
                self.state.start_round(round_)
            self._run_round(round_, server, clients)
        return list(self.state.rows)

    def _participants(self) -> list[str]:
        names = [self.cfg.server.name] if self.variant.exchange else []
        return names + [c.name for c in self.cfg.clients]

    def _build(self, log_sizes: bool) -> tuple[Server | None, list]:
        cfg, v = self.cfg, self.variant
        public = self.ctx.split.public
        server = None
        if v.exchange:
            model, tokenizer = self.ctx.load(cfg.server) if v.frozen_server else self.ctx.with_lora(cfg.server)
            server = build_server(cfg.server, model, tokenizer, public, cfg.fedmkt, frozen=v.frozen_server)
            if log_sizes:
                self._log_sizes(cfg.server, model)
        clients: list[Client | PrivateClient] = []
        for spec, private in zip(cfg.clients, self.ctx.split.private, strict=True):
            model, tokenizer = self.ctx.with_lora(spec)
            if server is None:
                clients.append(private_client(spec, model, tokenizer, private))
            else:
                client = build_client(spec, model, tokenizer, private, public, server.info, cfg.fedmkt)
                server.register_client(client.info)
                clients.append(client)
            if log_sizes:
                self._log_sizes(spec, model)
        return server, clients

    def _restore(self, saved: Saved, server: Server | None, clients: list) -> None:
        """Put the models and round state back as they were at the last commit."""
        state = self.state = saved.state
        self.earlier_seconds = state.phase_seconds
        for participant in ([server] if server is not None else []) + clients:
            if participant.name in saved.adapters:
                load_adapter(participant.model, saved.adapters[participant.name])
        for client in clients:
            if client.name in state.own_nll:
                client.restore_own_nll(state.round, state.own_nll[client.name])
        if server is not None and server.frozen and state.server_payload is not None:
            server.restore_sent(state.server_payload)
        if server is not None and "server_select" in state.done and "server_train" not in state.done:
            self._select(state.round, server, log=False)  # rebuilds the server's KD targets from the uploads
        restore_rng(saved.rng)
        self.ctx.log.write("phase_resumed", phase=self.variant.phase, round=state.round,
                           after_step=state.done[-1] if state.done else None)

    # -- one round ---------------------------------------------------------------------------
    def _run_round(self, round_: int, server: Server | None, clients: list) -> None:
        """Run the round's steps not yet done, committing a checkpoint after each."""
        pending = [(name, step) for name, step in self._steps(round_, server, clients)
                   if name not in self.state.done]
        if not pending:
            return
        self.round_started = time.perf_counter() - self.state.round_seconds
        if not self.state.done:
            self.log("round_start", round=round_)
        for name, step in pending:
            try:
                changed = step()
            except (StepFailed, DiskWriteError):
                raise
            except FedMKTError as error:
                raise StepFailed(f"{self.variant.phase} round {round_}, step {name}: {error}") from error
            self.state.done.append(name)
            now = time.perf_counter()
            self.state.round_seconds = now - self.round_started
            self.state.phase_seconds = self.earlier_seconds + now - self.started
            seconds = self.store.commit(self.state, name, self._participants(), changed)
            self.timings["checkpoint"] = self.timings.get("checkpoint", 0.0) + seconds

    def _steps(self, round_: int, server: Server | None, clients: list) -> list[tuple[str, Step]]:
        """The round's steps in order (paper section 3.2 numbering in the step methods)."""
        fm, v = self.cfg.fedmkt, self.variant
        steps: list[tuple[str, Step]] = []
        if trains_private(fm, round_):
            steps += [(f"private/{c.name}", partial(self._train_private, round_, c)) for c in clients]
        if server is not None:
            steps += [(f"upload/{c.name}", partial(self._upload, round_, c, sent=not server.frozen)) for c in clients]
            if not server.frozen:
                steps += [("server_select", partial(self._select, round_, server, log=True)),
                          ("server_train", partial(self._server_train, round_, server))]
            steps.append(("server_message", partial(self._server_message, round_, server)))
            steps += [(f"client_kd/{c.name}", partial(self._client_kd, round_, c)) for c in clients]
        if v.fedavg:
            steps.append(("fedavg", partial(self._fedavg, round_, clients)))
        steps.append(("round_end", partial(self._round_end, round_, server, clients)))
        if should_score(round_, self.cfg.fedmkt.rounds, self.cfg.fedmkt.eval_every):
            if v.llm_method and server is not None:
                steps.append(("score/server", partial(self._score_server, round_, server, v.llm_method)))
            if v.slm_method:
                steps += [(f"score/{c.name}", partial(self._score_client, round_, i, clients, v.slm_method))
                          for i, c in enumerate(clients)]
        return steps

    def _train_private(self, round_: int, client) -> Changed:  # step 1
        spec = self._spec(client.name)
        report = client.train_private(round_args(spec, self.cfg.seed, round_),
                                      progress=self.bar(f"r{round_} private {client.name}"))
        self.log("train_private", report, round=round_)
        return {f"adapter/{client.name}": client.model}

    def _upload(self, round_: int, client: Client, *, sent: bool) -> Changed:  # step 2
        """The client's public distributions; ``sent`` False (LLM2SLM): kept for its own NLLs, not sent."""
        data, report = client.public_payload(round_)
        self.state.uploads[client.name] = data
        self.state.own_nll[client.name] = dict(client.own_nll)
        self.log("client_message", report, round=round_)
        if sent:  # a frozen LLM learns nothing from the clients, so LLM2SLM's clients upload nothing
            self.ledger.record(method=self.variant.phase, round=round_, sender=client.name,
                               receiver="server", kind="topk", nbytes=len(data))
        return {f"upload/{client.name}": data}

    def _select(self, round_: int, server: Server, *, log: bool) -> Changed:  # step 3 (log=False: a replay)
        received = server.receive(self.state.uploads, round=round_)
        aligned = server.select_and_align()
        if log:
            self.log("server_receive", received)
            self.log("server_align", aligned)
        return {}

    def _server_train(self, round_: int, server: Server) -> Changed:  # step 4
        report = server.train_public(round_args(self.cfg.server, self.cfg.seed, round_),
                                     progress=self.bar(f"r{round_} server KD"))
        self.log("server_train", report, round=round_)
        return {f"adapter/{server.name}": server.model}

    def _server_message(self, round_: int, server: Server) -> Changed:  # step 5
        data, report = server.public_payload(round_)
        self.state.server_payload = data
        self.log("server_message", report, round=round_)
        return {"server_payload": data}

    def _client_kd(self, round_: int, client: Client) -> Changed:  # steps 6-8
        data = self.state.server_payload
        assert data is not None  # the server_message step ran before
        self.ledger.record(method=self.variant.phase, round=round_, sender="server",
                           receiver=client.name, kind="topk", nbytes=len(data))
        try:
            aligned = client.receive_llm(data, round=round_)
        except MessageRejected as rejected:  # as the server goes on without a bad upload, so does a client
            self.log("client_receive", ReceiveReport.refusal(client.name, round_, "server", rejected.reason, len(data)))
            return {}  # no KD this round: the client keeps its privately trained adapter
        self.log("client_align", aligned)
        report = client.train_public(round_args(self._spec(client.name), self.cfg.seed, round_),
                                     progress=self.bar(f"r{round_} KD {client.name}"))
        self.log("client_train", report, round=round_)
        return {f"adapter/{client.name}": client.model}

    def _fedavg(self, round_: int, clients: list) -> Changed:
        report = fedavg_clients(clients)
        self.log("fedavg", round=round_, clients=report.clients, weights=report.weights,
                 fedavg_seconds=report.seconds)
        self.timings["fedavg"] = self.timings.get("fedavg", 0.0) + report.seconds
        adapter = parameter_bytes(clients[0].model, trainable_only=True)
        for client in clients:
            for sender, receiver in ((client.name, "server"), ("server", client.name)):
                self.ledger.record(method=self.variant.phase, round=round_, sender=sender,
                                   receiver=receiver, kind="lora", nbytes=adapter)
        return {f"adapter/{c.name}": c.model for c in clients}

    def _round_end(self, round_: int, server: Server | None, clients: list) -> Changed:
        """Keep the round's adapters for users (``adapters/<phase>/round-N``) and log the round's times."""
        saved = time.perf_counter()
        self._save(round_, server, clients)
        self.timings["disk_io"] = time.perf_counter() - saved
        wall = time.perf_counter() - self.round_started
        self.timings["other"] = max(wall - sum(self.timings.values()), 0.0)  # glue, batching, logging
        overhead = wall - self.timings.get("model_compute", 0.0)
        # unrounded, so the parts add up to the wall time and the share follows from them exactly
        self.log("round_end", round=round_, seconds=wall, breakdown=dict(sorted(self.timings.items())),
                 overhead_share=overhead / wall if wall else 0.0)
        return {}

    # -- bookkeeping -------------------------------------------------------------------------
    def _spec(self, name: str) -> ParticipantConfig:
        return next(spec for spec in self.cfg.clients if spec.name == name)

    def _log_sizes(self, spec: ParticipantConfig, model) -> None:
        self.log("model_size", participant=spec.name, model=spec.model,
                 lora_bytes=parameter_bytes(model, trainable_only=True),
                 full_bytes=parameter_bytes(model, trainable_only=False)
                 - parameter_bytes(model, trainable_only=True))

    def _save(self, round_: int, server: Server | None, clients: list) -> None:
        folder = self.ctx.run_dir / "adapters" / self.variant.phase / f"round-{round_}"
        if server is not None and not server.frozen:
            with writing(folder / server.name):
                save_adapter(server.model, folder / server.name)
        for client in clients:
            with writing(folder / client.name):
                save_adapter(client.model, folder / client.name)

    def _score_server(self, round_: int, server: Server, method: str) -> Changed:
        self.state.rows += self.ctx.score(self.cfg.server, "llm", method, server.model,
                                 server.participant.tokenizer, round_=round_)
        return {}

    def _score_client(self, round_: int, index: int, clients: list, method: str) -> Changed:
        """Score one client; under FedAvg every client holds the same adapter, so the first one's rows serve."""
        client = clients[index]
        spec = self._spec(client.name)
        if self.variant.fedavg and index > 0:
            first = clients[0].name
            self.state.rows += [replace(r, participant=spec.name) for r in self.state.rows
                                if r.round == round_ and r.method == method and r.participant == first]
            return {}
        self.state.rows += self.ctx.score(spec, "slm", method, client.model, client.tokenizer,
                                 round_=round_)
        return {}


def federated_phase(ctx: RunContext, variant: Variant) -> list[ResultRow]:
    return FederatedPhase(ctx, variant).run()
