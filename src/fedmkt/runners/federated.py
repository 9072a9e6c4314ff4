"""Federated phases driven in-process: FedMKT (and its FedAvg variant), LLM2SLM and plain FedAvg.

The round is ``fedmkt.federation``'s (its plan says which steps run, by which role); this runner
moves the bytes between the core's ``Server`` and ``Client`` and records what happened (log, comm
ledger, adapters), as a Flower deployment does over real transport. Each step is checkpointed when
it finishes (``runners.checkpoint``; with ``privacy``, each client's DP ledger too), so ``--resume``
continues after the last finished step; a step that fails stops the run with :class:`StepFailed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from fedmkt.config import ParticipantConfig
from fedmkt.core.client import Client, PrivateClient
from fedmkt.core.server import Server
from fedmkt.errors import FedMKTError
from fedmkt.federation import client_steps as cs
from fedmkt.federation import server_steps as ss
from fedmkt.federation.plan import (
    CLIENTS,
    DISTILL,
    FEDAVG,
    PRIVATE,
    SELECT,
    SERVER,
    SERVER_MESSAGE,
    SERVER_TRAIN,
    UPLOAD,
    Step,
    Variant,
    round_plan,
)
from fedmkt.federation.reported import Reports
from fedmkt.federation.sampling import sample_clients
from fedmkt.io import DiskWriteError, writing
from fedmkt.models.lora import get_adapter_state, load_adapter, save_adapter
from fedmkt.report.comm import CommLedger, parameter_bytes
from fedmkt.report.results import ResultRow
from fedmkt.runners.checkpoint import Changed, PhaseCheckpoint, PhaseState, Saved, StepFailed
from fedmkt.runners.heap import trim_heap
from fedmkt.runners.phase_log import PhaseLog
from fedmkt.runners.rng_state import restore_rng
from fedmkt.setup.context import RunContext
from fedmkt.setup.privacy import client_ledger, private_phases
from fedmkt.setup.roles import build_client, build_server, private_client

Work = Callable[[], Changed]
"""A step of a round; returns what it changed, for the checkpoint (``PhaseCheckpoint.commit``)."""


class FederatedPhase:
    """One federated procedure from model loading to the last round's scores: each round's steps from its plan
    (:meth:`_steps`), a checkpoint after each; with ``ctx.resume`` it continues after the last committed step."""

    def __init__(self, ctx: RunContext, variant: Variant) -> None:
        self.ctx = ctx
        self.variant = variant
        self.cfg = ctx.config
        self.ledger = CommLedger(ctx.run_dir / "comm.jsonl")
        self.store = PhaseCheckpoint(ctx.run_dir, variant.phase)
        self.state = PhaseState()
        self.log = PhaseLog(ctx, variant.phase, lambda: self.state.timings)
        self.started = time.perf_counter()
        self.earlier_seconds = 0.0  # the phase's time in earlier sessions (resume)
        self.server: Server | None = None
        self.clients: list = []

    def run(self) -> list[ResultRow]:
        saved = self.store.load(self._participants()) if self.ctx.resume and self.store.exists() else None
        if saved is None:
            self.store.discard()  # leftovers of an attempt killed before its first commit
        self._build(log_sizes=saved is None)  # sizes are logged once, on the first attempt
        if saved is not None:
            self._restore(saved)
        for round_ in range(self.state.round, self.cfg.fedmkt.rounds + 1):
            if round_ != self.state.round:
                self.state.start_round(round_)
            self._run_round(round_)
        return list(self.state.rows)

    def _participants(self) -> list[str]:
        return ([self.cfg.server.name] if self.variant.exchange else []) + [c.name for c in self.cfg.clients]

    def _build(self, log_sizes: bool) -> None:
        cfg, v = self.cfg, self.variant
        public = self.ctx.split.public
        bases = self.ctx.bases()  # one copy of each base model, an adapter per participant
        server = None
        if v.exchange:
            model, tokenizer = self.ctx.load(cfg.server) if v.frozen_server else bases.with_lora(cfg.server)
            server = build_server(cfg.server, model, tokenizer, public, cfg.fedmkt, frozen=v.frozen_server)
            if log_sizes:
                self.log.sizes(cfg.server, model)
        clients: list[Client | PrivateClient] = []
        for spec, private in zip(cfg.clients, self.ctx.split.private, strict=True):
            ledger = client_ledger(cfg, spec, len(private), private_phases(cfg.fedmkt))  # None: no DP-SGD
            model, tokenizer = bases.with_lora(spec)
            if server is None:
                clients.append(private_client(spec, model, tokenizer, private, privacy=ledger))
            else:
                client = build_client(spec, model, tokenizer, private, public, server.info, cfg.fedmkt,
                                      privacy=ledger)
                server.register_client(client.info)
                clients.append(client)
            if log_sizes:
                self.log.sizes(spec, model)
        self.server, self.clients = server, clients

    def _restore(self, saved: Saved) -> None:
        """Put the models and round state back as they were at the last commit."""
        state = self.state = saved.state
        server = self.server
        self.earlier_seconds = state.phase_seconds
        for participant in ([server] if server is not None else []) + self.clients:
            if participant.name in saved.adapters:
                load_adapter(participant.model, saved.adapters[participant.name])
        for client in self.clients:
            if client.name in state.own_nll:
                client.restore_own_nll(state.round, state.own_nll[client.name])
            if client.privacy is not None and client.name in state.privacy:
                client.privacy.restore(state.privacy[client.name])  # its secret, history and phases, exactly
        if server is not None and server.frozen and state.server_payload is not None:
            server.restore_sent(state.server_payload)
        if server is not None and SELECT in state.done and SERVER_TRAIN not in state.done:
            self._receive_and_select(state.round)  # rebuilds the server's KD targets from the uploads
        restore_rng(saved.rng)
        self.ctx.log.write("phase_resumed", phase=self.variant.phase, round=state.round,
                           after_step=state.done[-1] if state.done else None)

    # -- one round ---------------------------------------------------------------------------
    def _run_round(self, round_: int) -> None:
        """Run the round's steps not yet done, committing a checkpoint after each."""
        pending = [(name, work) for name, work in self._steps(round_) if name not in self.state.done]
        if not pending:
            return
        self.round_started = time.perf_counter() - self.state.round_seconds
        if not self.state.done:
            self.log("round_start", round=round_)
            if (per_round := self.cfg.fedmkt.clients_per_round) is not None:
                drawn = [c.name for c in self._sampled(round_)]
                self.log("clients_sampled", round=round_, clients=drawn, of=len(self.clients), per_round=per_round)
        for name, work in pending:
            try:
                changed = work()
            except (StepFailed, DiskWriteError):
                raise
            except FedMKTError as error:
                raise StepFailed(f"{self.variant.phase} round {round_}, step {name}: {error}") from error
            self.state.done.append(name)
            self.state.privacy = {c.name: c.privacy.state() for c in self.clients if c.privacy is not None}
            now = time.perf_counter()
            self.state.round_seconds = now - self.round_started
            self.state.phase_seconds = self.earlier_seconds + now - self.started
            seconds = self.store.commit(self.state, name, self._participants(), changed)
            self.log.add_time("checkpoint", seconds)
            trim_heap()  # what the step freed goes back to the system: memory grows by adapters, not working sets

    def _steps(self, round_: int) -> list[tuple[str, Work]]:
        """The round's plan, each client's share of a client step its own step; then the round's end and scores."""
        plan = round_plan(self.variant, self.cfg.fedmkt, round_)
        sampled = self._sampled(round_)
        steps: list[tuple[str, Work]] = []
        for step in plan.steps:
            if step.role == CLIENTS:
                work = {PRIVATE: self._private, UPLOAD: self._upload, DISTILL: self._distill}[step.name]
                steps += [(f"{step.name}/{c.name}", partial(work, round_, step, c)) for c in sampled]
            else:
                serve = {SELECT: self._select, SERVER_TRAIN: self._server_train,
                         SERVER_MESSAGE: self._server_message, FEDAVG: self._fedavg}[step.name]
                steps.append((step.name, partial(serve, round_, step)))
        steps.append(("round_end", partial(self._round_end, round_)))
        if SERVER in plan.scored and self.server is not None:
            steps.append(("score/server", partial(self._score_server, round_)))
        if CLIENTS in plan.scored:
            steps += [(f"score/{c.name}", partial(self._score_client, round_, i)) for i, c in enumerate(self.clients)]
        return steps

    def _sampled(self, round_: int) -> list:
        """The round's clients (``fedmkt.clients_per_round``; all by default), in the config's order."""
        drawn = sample_clients([c.name for c in self.clients], self.cfg.fedmkt.clients_per_round, self.cfg.seed, round_)
        return [c for c in self.clients if c.name in drawn]

    def _logged(self, reports: Reports, round_: int) -> None:
        for event, report in reports:
            self.log(event, report, round=round_)

    def _private(self, round_: int, step: Step, client: PrivateClient) -> Changed:
        self._logged(cs.client_private(client, self._spec(client.name), self.cfg.seed, round_,
                                       progress=self.log.bar(f"r{round_} private {client.name}")), round_)
        return {f"adapter/{client.name}": client.model}

    def _upload(self, round_: int, step: Step, client: Client) -> Changed:
        """The client's public distributions; not ``step.sent`` (LLM2SLM): kept for its own NLLs, not sent."""
        data, reports = cs.client_upload(client, round_)
        self.state.uploads[client.name] = data
        self.state.own_nll[client.name] = dict(client.own_nll)
        self._logged(reports, round_)
        if step.sent:
            self.ledger.record(method=self.variant.phase, round=round_, sender=client.name,
                               receiver="server", kind="topk", nbytes=len(data))
        return {f"upload/{client.name}": data}

    def _receive_and_select(self, round_: int) -> Reports:
        assert self.server is not None
        expected = [c.name for c in self._sampled(round_)]  # the others sent nothing, and were not asked to
        _, _, received = ss.server_receive(self.server, self.state.uploads, round_, expected)
        return received + ss.server_select(self.server)

    def _select(self, round_: int, step: Step) -> Changed:  # a rejected upload is left out, as on Flower
        self._logged(self._receive_and_select(round_), round_)
        return {}

    def _server_train(self, round_: int, step: Step) -> Changed:
        assert self.server is not None
        self._logged(ss.server_train(self.server, self.cfg.server, self.cfg.seed, round_,
                                     progress=self.log.bar(f"r{round_} server KD")), round_)
        return {f"adapter/{self.server.name}": self.server.model}

    def _server_message(self, round_: int, step: Step) -> Changed:
        assert self.server is not None
        data, reports = ss.server_message(self.server, round_)
        self.state.server_payload = data
        self._logged(reports, round_)
        return {"server_payload": data}

    def _distill(self, round_: int, step: Step, client: Client) -> Changed:
        data = self.state.server_payload
        assert data is not None  # the server_message step ran before
        self.ledger.record(method=self.variant.phase, round=round_, sender="server",
                           receiver=client.name, kind="topk", nbytes=len(data))
        trained, reports = cs.client_distill(client, data, self._spec(client.name), self.cfg.seed, round_,
                                             progress=self.log.bar(f"r{round_} KD {client.name}"))
        self._logged(reports, round_)
        return {f"adapter/{client.name}": client.model} if trained else {}

    def _fedavg(self, round_: int, step: Step) -> Changed:
        start = time.perf_counter()
        clients = self._sampled(round_)  # the others keep their adapters until they are drawn again
        mean, report = ss.fedavg({c.name: get_adapter_state(c.model) for c in clients},
                                 {c.name: c.n_private for c in clients})
        for client in clients:
            cs.client_take_mean(client.model, mean)
        seconds = time.perf_counter() - start
        self.log("fedavg", round=round_, clients=report.clients, weights=report.weights, fedavg_seconds=seconds)
        self.log.add_time("fedavg", seconds)
        adapter = parameter_bytes(clients[0].model, trainable_only=True)
        for client in clients:
            for sender, receiver in ((client.name, "server"), ("server", client.name)):
                self.ledger.record(method=self.variant.phase, round=round_, sender=sender,
                                   receiver=receiver, kind="lora", nbytes=adapter)
        return {f"adapter/{c.name}": c.model for c in clients}

    def _round_end(self, round_: int) -> Changed:
        """Keep the round's adapters for users (``adapters/<phase>/round-N``) and log the round's times."""
        saved = time.perf_counter()
        self._save(round_)
        self.log.round_end(round_, self.round_started, disk_io=time.perf_counter() - saved)
        return {}

    # -- bookkeeping -------------------------------------------------------------------------
    def _spec(self, name: str) -> ParticipantConfig:
        return next(spec for spec in self.cfg.clients if spec.name == name)

    def _save(self, round_: int) -> None:
        folder = self.ctx.run_dir / "adapters" / self.variant.phase / f"round-{round_}"
        if self.server is not None and not self.server.frozen:
            with writing(folder / self.server.name):
                save_adapter(self.server.model, folder / self.server.name)
        for client in self.clients:
            with writing(folder / client.name):
                save_adapter(client.model, folder / client.name)

    def _score_server(self, round_: int) -> Changed:
        server, method = self.server, self.variant.llm_method
        assert server is not None and method is not None
        self.state.rows += self.ctx.score(self.cfg.server, "llm", method, server.model,
                                          server.participant.tokenizer, round_=round_)
        return {}

    def _score_client(self, round_: int, index: int) -> Changed:
        """Score one client's latest adapter; under FedAvg the round's clients share one: the first one's rows serve."""
        client, method = self.clients[index], self.variant.slm_method
        assert method is not None
        spec = self._spec(client.name)
        if self.variant.fedavg and client in (sampled := self._sampled(round_))[1:]:
            first = sampled[0].name
            self.state.rows += [replace(r, participant=spec.name) for r in self.state.rows
                                if r.round == round_ and r.method == method and r.participant == first]
            return {}
        self.state.rows += self.ctx.score(spec, "slm", method, client.model, client.tokenizer, round_=round_)
        return {}


def federated_phase(ctx: RunContext, variant: Variant) -> list[ResultRow]:
    return FederatedPhase(ctx, variant).run()
