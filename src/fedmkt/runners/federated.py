"""Federated phases driven in-process: FedMKT (and its FedAvg variant), LLM2SLM and plain FedAvg.

The runner only moves bytes between the core's `Server` and `Client` objects and records what
happened; every algorithmic step lives in `fedmkt.core`. A Flower deployment drives the same
objects with real transport.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from fedmkt.baselines.common import attach_participant_lora, load_participant, score, train_args
from fedmkt.config import ParticipantConfig
from fedmkt.core.client import Client
from fedmkt.core.fedavg import fedavg_clients
from fedmkt.core.participant import Participant
from fedmkt.core.reports import PhaseReport
from fedmkt.core.server import Server
from fedmkt.models.lora import save_adapter
from fedmkt.report.comm import CommLedger, parameter_bytes
from fedmkt.report.results import ResultRow
from fedmkt.runners.context import RunContext
from fedmkt.runners.progress import TrainingBar
from fedmkt.training.loop import TrainArgs
from fedmkt.training.sft import sft_loss

_TIMING_BUCKETS = {
    "seconds": "model_compute",  # a training phase (PhaseReport)
    "compute_seconds": "model_compute",  # forward passes over the public set (MessageReport)
    "encode_seconds": "serialisation",
    "decode_seconds": "deserialisation_validation",
    "align_seconds": "alignment",
    "select_seconds": "selection",
}
"""Which core-report timing goes into which slice of a round's wall time."""


@dataclass(frozen=True)
class Variant:
    """Which federated procedure a phase runs and the method names its rows take."""

    phase: str
    slm_method: str | None  # row name for the clients' scores, None: not scored
    llm_method: str | None  # row name for the server's scores, None: not scored
    exchange: bool = True  # FedMKT's logits exchange (False: plain FedAvg)
    fedavg: bool = False  # average client adapters after each round
    frozen_server: bool = False  # LLM2SLM: the LLM only teaches


def variants_for(methods: list[str]) -> list[Variant]:
    """The federated phases that ``methods`` ask for, with only the requested sides scored."""
    asked = set(methods)
    pick = lambda name: name if name in asked else None  # noqa: E731
    out: list[Variant] = []
    if {"FedMKT-SLM", "FedMKT-LLM"} & asked:
        out.append(Variant("FedMKT", pick("FedMKT-SLM"), pick("FedMKT-LLM")))
    if {"FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"} & asked:
        out.append(Variant("FedMKT-FedAvg", pick("FedMKT-SLM-FedAvg"), pick("FedMKT-LLM-FedAvg"), fedavg=True))
    if "LLM2SLM" in asked:
        out.append(Variant("LLM2SLM", "LLM2SLM", None, frozen_server=True))
    if "FedAvg" in asked:
        out.append(Variant("FedAvg", "FedAvg", None, exchange=False, fedavg=True))
    return out


def _with_lora(ctx: RunContext, participant: ParticipantConfig):
    model, tokenizer = load_participant(ctx, participant)
    return attach_participant_lora(model, participant), tokenizer


def _round_args(participant: ParticipantConfig, seed: int, round_: int) -> TrainArgs:
    """Each round reshuffles: the seed moves with the round."""
    return replace(train_args(participant, seed), seed=seed + 1000 * round_)


def _should_score(round_: int, rounds: int, every: int) -> bool:
    return round_ == rounds or (every > 0 and round_ % every == 0)


class FederatedPhase:
    """One federated procedure from model loading to the last round's scores."""

    def __init__(self, ctx: RunContext, variant: Variant) -> None:
        self.ctx = ctx
        self.variant = variant
        self.cfg = ctx.config
        self.ledger = CommLedger(ctx.run_dir / "comm.jsonl")
        self.timings: dict[str, float] = {}

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
        return TrainingBar(self.ctx.board, f"{self.variant.phase} {what}")

    def run(self) -> list[ResultRow]:
        cfg, v = self.cfg, self.variant
        public = self.ctx.split.public
        server = None
        if v.exchange:
            if v.frozen_server:
                model, tokenizer = load_participant(self.ctx, cfg.server)
            else:
                model, tokenizer = _with_lora(self.ctx, cfg.server)
            server = Server(cfg.server.name, model, tokenizer, public, max_length=cfg.server.train.max_length,
                            frozen=v.frozen_server)
            self._log_sizes(cfg.server, model)
        clients: list[Client] = []
        for spec, private in zip(cfg.clients, self.ctx.split.private, strict=True):
            model, tokenizer = _with_lora(self.ctx, spec)
            info = server.info if server is not None else None
            client = Client(spec.name, model, tokenizer, private, public, info, max_length=spec.train.max_length) \
                if info is not None else _PrivateOnlyClient(spec.name, model, tokenizer, private, spec.train.max_length)
            clients.append(client)
            if server is not None:
                server.register_client(client.info)
            self._log_sizes(spec, model)

        rows: list[ResultRow] = []
        for round_ in range(1, cfg.fedmkt.rounds + 1):
            start = time.perf_counter()
            self.timings = {}
            self.log("round_start", round=round_)
            self._round(round_, server, clients)
            saved = time.perf_counter()
            self._save(round_, server, clients)
            self.timings["disk_io"] = time.perf_counter() - saved
            wall = time.perf_counter() - start
            self.timings["other"] = max(wall - sum(self.timings.values()), 0.0)  # glue, batching, logging
            overhead = wall - self.timings.get("model_compute", 0.0)
            # unrounded, so the parts add up to the wall time and the share follows from them exactly
            self.log("round_end", round=round_, seconds=wall, breakdown=dict(sorted(self.timings.items())),
                     overhead_share=overhead / wall if wall else 0.0)
            if _should_score(round_, cfg.fedmkt.rounds, cfg.fedmkt.eval_every):
                rows += self._score(round_, server, clients)
        return rows

    # -- one round ---------------------------------------------------------------------------
    def _round(self, round_: int, server: Server | None, clients: list) -> None:
        cfg, fm = self.cfg, self.cfg.fedmkt
        by_name = {c.name: spec for c, spec in zip(clients, cfg.clients, strict=True)}
        if fm.train_private_each_round or round_ == 1:
            for client in clients:  # step 1
                report = client.train_private(_round_args(by_name[client.name], cfg.seed, round_),
                                              progress=self.bar(f"r{round_} private {client.name}"))
                self.log("train_private", report, round=round_)
        if server is not None:
            uploads: dict[str, bytes] = {}
            for client in clients:  # step 2
                data, report = client.public_payload(round_, fm.top_k, fm.public_batch_size)
                uploads[client.name] = data
                self.log("client_message", report, round=round_)
                self.ledger.record(method=self.variant.phase, round=round_, sender=client.name,
                                   receiver="server", kind="topk", nbytes=len(data))
            if not server.frozen:
                received = server.receive(uploads, round=round_, top_k=fm.top_k)  # step 3
                self.log("server_receive", received)
                aligned = server.select_and_align(fm.unmatched_weight)
                self.log("server_align", aligned)
                report = server.train_public(  # step 4
                    _round_args(cfg.server, cfg.seed, round_), fm.kd_weight, fm.temperature,
                    progress=self.bar(f"r{round_} server KD"),
                )
                self.log("server_train", report, round=round_)
            data, report = server.public_payload(round_, fm.top_k, fm.public_batch_size)  # step 5
            self.log("server_message", report, round=round_)
            for client in clients:  # steps 6-8
                self.ledger.record(method=self.variant.phase, round=round_, sender="server",
                                   receiver=client.name, kind="topk", nbytes=len(data))
                aligned = client.receive_llm(data, round=round_, top_k=fm.top_k,
                                             unmatched_weight=fm.unmatched_weight)
                self.log("client_align", aligned)
                report = client.train_public(
                    _round_args(by_name[client.name], cfg.seed, round_), fm.kd_weight, fm.temperature,
                    progress=self.bar(f"r{round_} KD {client.name}"),
                )
                self.log("client_train", report, round=round_)
        if self.variant.fedavg:
            report = fedavg_clients(clients)
            self.log("fedavg", round=round_, clients=report.clients, weights=report.weights,
                     fedavg_seconds=report.seconds)
            self.timings["fedavg"] = self.timings.get("fedavg", 0.0) + report.seconds
            adapter = parameter_bytes(clients[0].model, trainable_only=True)
            for client in clients:
                for sender, receiver in ((client.name, "server"), ("server", client.name)):
                    self.ledger.record(method=self.variant.phase, round=round_, sender=sender,
                                       receiver=receiver, kind="lora", nbytes=adapter)

    # -- bookkeeping -------------------------------------------------------------------------
    def _log_sizes(self, spec: ParticipantConfig, model) -> None:
        self.log("model_size", participant=spec.name, model=spec.model,
                 lora_bytes=parameter_bytes(model, trainable_only=True),
                 full_bytes=parameter_bytes(model, trainable_only=False)
                 - parameter_bytes(model, trainable_only=True))

    def _save(self, round_: int, server: Server | None, clients: list) -> None:
        folder = self.ctx.run_dir / "adapters" / self.variant.phase / f"round-{round_}"
        if server is not None and not server.frozen:
            save_adapter(server.model, folder / server.name)
        for client in clients:
            save_adapter(client.model, folder / client.name)

    def _score(self, round_: int, server: Server | None, clients: list) -> list[ResultRow]:
        rows: list[ResultRow] = []
        v, cfg = self.variant, self.cfg
        if v.llm_method and server is not None:
            rows += score(self.ctx, cfg.server, "llm", v.llm_method, server.model, server.participant.tokenizer,
                          round_=round_)
        if v.slm_method:
            scored_global = None
            for client, spec in zip(clients, cfg.clients, strict=True):
                if v.fedavg and scored_global is not None:  # every client holds the same averaged adapter
                    rows += [replace(r, participant=spec.name) for r in scored_global]
                    continue
                got = score(self.ctx, spec, "slm", v.slm_method, client.model, client.participant.tokenizer,
                            round_=round_)
                rows += got
                scored_global = got if v.fedavg else None
        return rows


class _PrivateOnlyClient:
    """A client of plain FedAvg: private SFT only, no logits exchange (so no server to know)."""

    def __init__(self, name: str, model, tokenizer, private, max_length: int) -> None:
        self.participant = Participant(name, model, tokenizer, [], max_length)
        self.private = list(private)
        self.encoded_private = self.participant.encode(self.private)

    name = property(lambda self: self.participant.name)
    model = property(lambda self: self.participant.model)
    n_private = property(lambda self: len(self.private))

    def train_private(self, args: TrainArgs, progress=None, log=None) -> PhaseReport:
        return self.participant.train(self.encoded_private, sft_loss, args, "private", progress, log)


def federated_phase(ctx: RunContext, variant: Variant) -> list[ResultRow]:
    return FederatedPhase(ctx, variant).run()
