"""FedMKT's rounds driven over Flower: ``fedmkt.federation``'s plan with messages in between.

The ServerApp's side of a run: it registers the clients' nodes, then walks each round's plan
(``fedmkt.deploy.flower.rounds``: the clients' steps as messages, the server's here, with the
same step functions and arguments as ``fedmkt.runners.federated``), keeps the server's adapter of
each round and scores: its LLM here, the clients on their nodes with their last reply of the
round. Every exclusion is an ``excluded`` event in ``metrics.jsonl`` (round, step, client,
reason) and a warning in the ServerApp's log (``fedmkt.deploy.flower.runlog``).

After each round ``flower-state.json`` records it (``fedmkt.deploy.flower.state``); with
``resume`` a new ServerApp loads the server's adapter of that round, cuts the logs back to it and
asks each client to start its next upload from its own adapter of that round.
"""

from __future__ import annotations

import time
from itertools import groupby
from logging import INFO, WARNING
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.common import log as flwr_log
from flwr.serverapp import Grid

from fedmkt.config import dump_config
from fedmkt.core.peer import PeerInfo
from fedmkt.core.server import Server
from fedmkt.deploy.flower.exchange import Exchange, parse_replies
from fedmkt.deploy.flower.identity import client_keys
from fedmkt.deploy.flower.registration import register_nodes
from fedmkt.deploy.flower.results import write_reports
from fedmkt.deploy.flower.rounds import FlowerRound
from fedmkt.deploy.flower.runlog import RunLog, rows_of
from fedmkt.deploy.flower.settings import Settings, pick_variant
from fedmkt.deploy.flower.state import FlowerRunState
from fedmkt.deploy.flower.task import build_server, experiment_text, pick_experiment, run_context
from fedmkt.errors import FedMKTError
from fedmkt.federation.plan import CLIENTS, SERVER, RoundPlan, round_plan
from fedmkt.federation.sampling import sample_clients
from fedmkt.io import atomic_write_text, fsync_tree, truncate_to
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.lora import load_adapter, save_adapter, save_adapter_state
from fedmkt.report.comm import CommLedger, parameter_bytes
from fedmkt.report.results import ResultRow
from fedmkt.tracking import open_trackers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class FlowerFederation:
    """The server's side of one Flower run of FedMKT, FedMKT-FedAvg, LLM2SLM or FedAvg."""

    def __init__(self, grid: Grid, settings: Settings) -> None:
        self.settings = settings
        self.config = pick_experiment(experiment_text(settings.experiment), settings.experiment_name,
                                      settings.experiment)
        self.variant = pick_variant(self.config, settings.method)
        self.keys = client_keys(settings.client_keys, settings.trust_client_names,
                                [c.name for c in self.config.clients], self.config.name)
        self.job_text = dump_config(self.config)
        self.state = self._resumed_state() if settings.resume else FlowerRunState(str(grid.run.run_id),
                                                                                   settings.method)
        self.resume_from: int | None = self.state.round if settings.resume else None
        self.ctx = run_context(self.config, settings.out)
        self.ctx.log.sinks += open_trackers(self.config, settings.out)  # report_to, as fedmkt run: replayed, then live
        self.runlog = RunLog(self.ctx.log, self.variant.phase)
        atomic_write_text(settings.out / "config.yaml", self.job_text)
        self.ledger = CommLedger(settings.out / "comm.jsonl")
        self.exchange = Exchange(grid, settings.timeout)
        self.grid = grid
        self.nodes: dict[str, int] = {}  # client name -> node id
        self.sizes: dict[str, int] = {}  # client name -> private examples (FedAvg weight)
        self.sample: list[str] = []  # the round's clients (fedmkt.clients_per_round: drawn from the registered)
        self.server: Server | None = None  # built by run()

    @property
    def llm(self) -> Server:
        """The server's LLM; only the methods that have one (all but plain FedAvg) reach for it."""
        if self.server is None:
            raise FedMKTError(f"{self.variant.phase} has no server LLM")
        return self.server

    def require(self, names, round_: int, step: str) -> None:
        """Stop the run when fewer than ``min-clients`` are left (or than the round drew, when it drew fewer)."""
        need = min(self.settings.min_clients, len(self.sample)) if self.sample else self.settings.min_clients
        if len(names) < need:
            self.runlog.write("run_abort", round=round_, step=step, clients=sorted(names), min_clients=need)
            raise FedMKTError(f"round {round_} {step}: {len(names)} client(s) left ({sorted(names)}), "
                              f"fewer than min-clients={need}; stopping the run")

    def job(self, round_: int, **extra) -> ConfigRecord:
        server = {"server-vocab": self.server.participant.vocab_size} if self.server is not None else {}
        return ConfigRecord({"experiment": self.job_text, "round": round_, "run-key": self.state.run_key,
                             **server, **extra})

    # -- resuming --------------------------------------------------------------------------
    def _resumed_state(self) -> FlowerRunState:
        """The stopped run's state, after checking that it is this experiment and method; logs cut back."""
        out = self.settings.out
        state = FlowerRunState.load(out)
        saved = (out / "config.yaml").read_text(encoding="utf-8") if (out / "config.yaml").is_file() else ""
        if saved != self.job_text:
            raise FedMKTError(f"run config 'resume': {out} holds a run of another experiment (its config.yaml "
                              f"differs from {self.settings.experiment}); resume with the same experiment")
        if state.method != self.settings.method:
            raise FedMKTError(f"run config 'resume': {out} holds a {state.method} run, not {self.settings.method}")
        if state.round >= self.config.fedmkt.rounds:
            raise FedMKTError(f"run config 'resume': the run in {out} finished all {state.round} rounds")
        for name, size in (("metrics.jsonl", state.metrics_size), ("comm.jsonl", state.comm_size)):
            truncate_to(out / name, size)  # the unfinished round's events and messages
        return state

    def _restore_server(self) -> None:
        if self.state.round and self._trains_server:
            load_adapter(self.llm.model, self._server_adapter(self.state.round))
        self.runlog.write("run_resume", round=self.state.round, run_key=self.state.run_key)

    def _server_adapter(self, round_: int) -> Path:
        return self.settings.out / "adapters" / self.variant.phase / f"round-{round_}" / self.llm.name

    def _commit(self, round_: int, rows: list[ResultRow]) -> None:
        """Record ``round_`` as finished (after its adapter and logs are on disk)."""
        self.state.round, self.state.rows = round_, list(rows)
        self.state.metrics_size, self.state.comm_size = self.ctx.log.size(), self.ledger.size()
        self.state.save(self.settings.out)

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> list[ResultRow]:
        start = time.perf_counter()
        if self.resume_from is None:
            self.runlog.write("run_start", name=self.config.name, method=self.settings.method)
        if self.variant.exchange:  # plain FedAvg has no LLM
            self.server = build_server(self.ctx, frozen=self.variant.frozen_server)
        if self.resume_from is None:
            self._commit(0, [])
        else:
            self._restore_server()
        self._register()
        rows: list[ResultRow] = list(self.state.rows)
        fm = self.config.fedmkt
        for round_ in range(self.state.round + 1, fm.rounds + 1):
            begun = time.perf_counter()
            self.runlog.write("round_start", round=round_, clients=sorted(self.nodes))
            self._draw(round_)
            plan = round_plan(self.variant, fm, round_)
            finished = FlowerRound(self, plan).run()
            if self._trains_server:
                fsync_tree(save_adapter(self.llm.model, self._server_adapter(round_)))
            self.runlog.write("round_end", round=round_, seconds=time.perf_counter() - begun, clients=sorted(finished))
            if plan.scored:
                rows += self._score(plan, finished)
            self._commit(round_, rows)
        write_reports(self.ctx, rows, self.ledger)
        self.runlog.write("run_end", seconds=round(time.perf_counter() - start, 3))
        return rows

    def _draw(self, round_: int) -> None:
        """The round's clients, drawn from the registered ones as the in-process runner draws them."""
        per_round = self.config.fedmkt.clients_per_round
        self.sample = sample_clients(list(self.nodes), per_round, self.config.seed, round_)
        if per_round is not None:
            self.runlog.write("clients_sampled", round=round_, clients=self.sample, of=len(self.nodes),
                              per_round=per_round)

    def take_resume_job(self) -> dict[str, int]:
        """``resume-from`` for the first message of the first round after a resume (each client then
        restarts from its adapter of the server's last finished round); empty afterwards."""
        if self.resume_from is None:
            return {}
        job, self.resume_from = {"resume-from": self.resume_from}, None
        return job

    @property
    def _trains_server(self) -> bool:
        return self.server is not None and not self.server.frozen

    def _register(self) -> None:
        """Wait for the nodes, know each by its key, register the clients in the experiment's order."""
        self._log_identity()
        connected, found = register_nodes(self.grid, self.exchange, self.config, self.keys, self.job(0),
                                          self.settings.wait_nodes, self.runlog.excluder("info", 0))
        self.runlog.write("nodes", connected=connected, expected=len(self.config.clients))
        if self.server is not None:
            self._log_size(self.config.server.model, self.server.model)
        tokenizers: dict[str, PreTrainedTokenizerBase] = {}  # one per model: clients of a model share its surfaces
        for name, node in found.items():
            spec = next(c for c in self.config.clients if c.name == name)
            if self.server is not None:
                if spec.model not in tokenizers:
                    tokenizers[spec.model] = load_tokenizer(spec.model)
                self.server.register_client(PeerInfo(name, tokenizers[spec.model], node.vocab_size,
                                                     spec.train.max_length))
            self.nodes[name], self.sizes[name] = node.node_id, node.n_private
            self.runlog.write("client_registered", client=name, node_id=str(node.node_id), model=node.model,
                              key=node.key, verified=self.keys is not None)
            self.runlog.write("model_size", participant=name, model=node.model, lora_bytes=node.lora_bytes,
                              full_bytes=node.full_bytes)
        self.require(self.nodes, 0, "info")

    def _log_identity(self) -> None:
        """How this run knows which node serves which client (``client_identity``, shown in results.md)."""
        if self.keys is None:
            flwr_log(WARNING, "fedmkt: trust-client-names = true: nodes are registered by the client they claim, "
                              "unverified; any node the SuperLink admits can take any client's slot")
            self.runlog.write("client_identity", verified=False)
        else:
            self.runlog.write("client_identity", verified=True, client_keys=str(self.keys.folder))

    def _log_size(self, model_name: str, model) -> None:
        lora = parameter_bytes(model, trainable_only=True)
        self.runlog.write("model_size", participant=self.config.server.name, model=model_name, lora_bytes=lora,
                 full_bytes=parameter_bytes(model, trainable_only=False) - lora)

    def ask_online(self, message_type: str, step: str, round_: int, job: ConfigRecord,
                   names: list[str] | None = None) -> dict[str, Message]:
        """``job`` to every connected client of ``names`` (default: the round's sample); a client whose node is
        gone is left out without a timeout."""
        names = self.sample if names is None else names
        online = set(self.grid.get_node_ids())
        for name in [n for n in names if self.nodes[n] not in online]:
            self.runlog.excluder(step, round_)(name, f"{message_type}: its node is not connected")
        asked = {n: RecordDict({"job": job}) for n in names if self.nodes[n] in online}
        return self.exchange.ask(message_type, round_, asked, self.nodes, self.runlog.excluder(step, round_))

    def save_mean(self, round_: int, mean: dict, reply: Message) -> None:
        """The round's averaged client adapter, in peft's format, in the run folder (``fedavg-mean``)."""
        config = reply.content.config_records.get("adapter-config")
        folder = self.settings.out / "adapters" / self.variant.phase / f"round-{round_}" / "fedavg-mean"
        try:
            if config is None or not isinstance(config.get("json"), str):
                raise FedMKTError("the reply has no adapter config")
            fsync_tree(save_adapter_state(mean, str(config["json"]), folder))
        except FedMKTError as err:  # the round goes on: the clients hold the mean all the same
            self.runlog.write("fedavg_mean_not_saved", round=round_, reason=str(err))

    def _score(self, plan: RoundPlan, finished: dict[str, Message]) -> list[ResultRow]:
        """The LLM scored here, then the rows the clients sent with their last reply of the round."""
        v, cfg, round_ = self.variant, self.config, plan.round
        rows: list[ResultRow] = []
        if SERVER in plan.scored and v.llm_method:
            rows += self.ctx.score(cfg.server, "llm", v.llm_method, self.llm.model,
                                   self.llm.participant.tokenizer, round_=round_)
        if CLIENTS in plan.scored:
            scored = parse_replies(finished, rows_of, self.runlog.excluder("score", round_), "score")
            scored |= self._score_not_drawn(round_)
            for name in self.nodes:  # the experiment's client order, as the in-process runner writes rows
                rows += scored.get(name, [])
                self._log_node_scores(scored.get(name, []))
        flwr_log(INFO, "round %s scored: %s", round_, ", ".join(f"{r.participant} {r.metric}={r.value:.2f}"
                                                                 for r in rows))
        return rows

    def _log_node_scores(self, rows: list[ResultRow]) -> None:
        """A client's scores, taken on its node, as ``eval`` events like the LLM's (trackers, the console, report):
        one per task, its main metric first and the others (acc_norm, acc_pmi) beside it, as scoring logs them."""
        for (method, participant, task), group in groupby(rows, key=lambda r: (r.method, r.participant, r.task)):
            main, *others = group
            phase = f"{method}/{participant}" + (f"/{task}" if self.config.domains else "")
            extra = {k: v for r in others for k, v in ((r.metric, r.value), (f"{r.metric}_ci_low", r.ci_low),
                                                      (f"{r.metric}_ci_high", r.ci_high))}
            self.runlog.write("eval", phase=phase, **({"task": task} if self.config.domains else {}),
                              metric=main.metric, value=main.value, n=main.n, scored_on="node", **extra)

    def _score_not_drawn(self, round_: int) -> dict[str, list[ResultRow]]:
        """The clients not drawn this round scored on their nodes with their own latest adapter (``evaluate.score``)."""
        rest = [name for name in self.nodes if name not in self.sample]
        if not rest:
            return {}
        job = self.job(round_, **{"score-method": self.variant.slm_method or ""})
        replies = self.ask_online("evaluate.score", "score", round_, job, rest)
        self.runlog.replies(replies, round_, ())
        return parse_replies(replies, rows_of, self.runlog.excluder("score", round_), "score")
