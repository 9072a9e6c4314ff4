"""A client's state on its SuperNode, rebuilt for every message and persisted in the node's cache.

Flower 1.41 runs a ClientApp as a fresh ``flwr-clientapp`` process for every message (with
``--isolation subprocess`` the SuperNode's SuperExec starts one per message; with ``process``
an external SuperExec does the same), so nothing in memory survives between messages. What
must survive lives in the node's cache folder, under ``runs/<run key>/<client>/`` (the run key
is the first Flower run id of the run, kept when the server resumes it in a new Flower run):

- ``adapter.safetensors``: the LoRA weights after the client's last training (absent: the
  fresh adapter every participant starts from);
- ``adapter-round-<r>.safetensors``: the weights at the end of the client's round ``r`` (its
  last message of the round), the two newest kept: a resumed run restarts a client from the
  newest of these not after the server's last finished round, so training of a round that did
  not finish is dropped (``resume-from`` in the job of the first upload after a resume);
- ``own.json``: the round and per-sample answer NLLs of the client's last upload (the "own
  cross-entropy" its DualMinCE choice compares with the LLM's in the same round);
- ``privacy.json`` (with ``privacy``): the client's DP-SGD ledger (``PrivacyLedger.state``: its noise
  secret, the accountant's history, its phases), and ``privacy-round-<r>.json`` its copy at the end of
  round ``r``, kept as the adapters are: a resumed run restores the ledger of the round whose adapter it
  restores, and the redone round, with the same secret and round seed, draws the same noise
  (docs/privacy.md). The ledger never leaves the node; a reply carries what it has spent;
- ``metrics.jsonl``: the node's own event log; ``../../alignment/``: the vocabulary-map cache.

Each message rebuilds only what a message needs: the base model (tiny models from their seed,
real ones from the converted folder), the adapter on top (loaded from disk when present), the
data split, and the core ``Client`` (public set encoded, sequence alignments with the server's
tokenizer; the vocabulary map comes from the disk cache after the first message).
:attr:`NodeSession.timings` records each part, so the cost of the missing persistence is
measured on every reply.
"""

from __future__ import annotations

import json
import time
from functools import cached_property
from pathlib import Path

import psutil
import torch
from flwr.app import Context
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from fedmkt.config import ExperimentConfig
from fedmkt.core.client import Client
from fedmkt.core.peer import PeerInfo
from fedmkt.deploy.flower.task import (
    client_spec,
    node_cache,
    private_examples,
    run_context,
)
from fedmkt.deploy.node_runs import run_state_folder
from fedmkt.errors import FedMKTError
from fedmkt.io import atomic_write_bytes, atomic_write_text
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.lora import get_adapter_state, set_adapter_state
from fedmkt.privacy.budget import PrivacyLedger, checked_state
from fedmkt.setup.context import RunContext
from fedmkt.setup.privacy import client_ledger, private_phases
from fedmkt.setup.roles import build_client


class NodeSession:
    """Everything one message handler needs on a node, built lazily, with the time each part took.

    Args:
        config: the experiment (sent by the server with every message).
        context: the Flower context (node config, run id).
        run_key: names the run's state folder (sent by the server with every message).
        resume_from: the server's last finished round when it resumed the run: the adapter is then
            the one saved at the end of the newest round not after it (none: the fresh adapter).
    """

    def __init__(self, config: ExperimentConfig, context: Context, run_key: str,
                 resume_from: int | None = None) -> None:
        self.started = started = time.perf_counter()
        self.timings: dict[str, float] = {
            # process start to handler start: interpreter, imports, Flower's task set-up
            "process_start": max(time.time() - psutil.Process().create_time(), 0.0),
        }
        self.config = config
        self.index, self.spec = client_spec(config, context.node_config)
        self.cache = node_cache(context.node_config)
        self.folder = run_state_folder(self.cache, run_key, self.spec.name)
        self.resume_from = resume_from
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ctx: RunContext = run_context(config, self.folder)
        self.private = private_examples(config, self.ctx.split, self.index, context.node_config)
        self.timings["data"] = time.perf_counter() - started

    def _timed(self, key: str, start: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start

    @cached_property
    def model_and_tokenizer(self) -> tuple[PeftModel, PreTrainedTokenizerBase]:
        """The client's model with LoRA attached, its saved adapter loaded when there is one."""
        start = time.perf_counter()
        model, tokenizer = self.ctx.with_lora(self.spec)
        self._timed("model", start)
        start = time.perf_counter()
        saved = self.adapter_path if self.resume_from is None else self._round_adapter(self.resume_from)
        if saved is not None and saved.is_file():
            set_adapter_state(model, load_file(str(saved)))
        self._timed("adapter_load", start)
        return model, tokenizer

    @cached_property
    def privacy(self) -> PrivacyLedger | None:
        """The client's DP-SGD ledger (None: no privacy), as saved at the end of its last step, or of the round
        the adapter is restored from; the secret is drawn once, by the first message, and kept."""
        ledger = client_ledger(self.config, self.spec, len(self.private), private_phases(self.config.fedmkt))
        if ledger is None:
            return None
        current = self._read_privacy(self.privacy_path)
        if self.resume_from is not None:
            rounds = [path for number, path in self._round_files("privacy-round-", ".json")
                      if number <= self.resume_from]
            kept = self._read_privacy(rounds[-1]) if rounds else None
            current = kept or (current and {**current, "history": [], "phases": 0})  # nothing spent before then
        if current is not None:
            ledger.restore(current)
        if current is None or self.resume_from is not None:
            self._write_privacy(ledger)  # the secret before any noise is drawn from it; a resume's rewound ledger
        return ledger

    @property
    def privacy_path(self) -> Path:
        return self.folder / "privacy.json"

    def _read_privacy(self, path: Path) -> dict | None:
        if not path.is_file():
            return None
        try:
            return checked_state(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise FedMKTError(f"{path}: not a privacy ledger written by fedmkt ({type(error).__name__}: {error}); "
                              "the client's spent budget is unknown, so it cannot go on") from None

    def _write_privacy(self, ledger: PrivacyLedger) -> None:
        atomic_write_text(self.privacy_path, json.dumps(ledger.state()))

    def save_privacy(self) -> None:
        """Persist the ledger after a private step (nothing without privacy)."""
        if self.privacy is not None:
            self._write_privacy(self.privacy)

    @property
    def model(self) -> PeftModel:
        return self.model_and_tokenizer[0]

    @property
    def adapter_path(self) -> Path:
        return self.folder / "adapter.safetensors"

    def client(self, server_model: str, server_vocab: int) -> Client:
        """The core client, the server known by its model's tokenizer and logit width."""
        model, tokenizer = self.model_and_tokenizer
        start = time.perf_counter()
        server = PeerInfo(self.config.server.name, load_tokenizer(server_model), server_vocab,
                          self.config.server.train.max_length)
        client = build_client(self.spec, model, tokenizer, self.private, self.ctx.split.public, server,
                              self.config.fedmkt, alignment_cache=self.cache / "alignment", privacy=self.privacy)
        self._timed("client_build", start)
        return client

    def save_adapter(self) -> None:
        start = time.perf_counter()
        tmp = self.adapter_path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in get_adapter_state(self.model).items()}, str(tmp))
        tmp.replace(self.adapter_path)
        self._timed("adapter_save", start)

    def end_round(self, round_: int) -> None:
        """Keep a copy of the saved adapter as the end of ``round_``; only the two newest copies stay."""
        start = time.perf_counter()
        if self.adapter_path.is_file():  # absent only if the client never trained (nothing to keep)
            atomic_write_bytes(self.folder / f"adapter-round-{round_}.safetensors", self.adapter_path.read_bytes())
        if self.privacy is not None:
            atomic_write_text(self.folder / f"privacy-round-{round_}.json", json.dumps(self.privacy.state()))
        for prefix, suffix in (("adapter-round-", ".safetensors"), ("privacy-round-", ".json")):
            for _, old in self._round_files(prefix, suffix)[:-2]:
                old.unlink(missing_ok=True)
        self._timed("adapter_save", start)

    def _round_files(self, prefix: str, suffix: str) -> list[tuple[int, Path]]:
        """The end-of-round files ``<prefix><round><suffix>`` on disk, oldest first."""
        found = []
        for path in self.folder.glob(f"{prefix}*{suffix}"):
            number = path.name.removeprefix(prefix).removesuffix(suffix)
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found)

    def _round_adapter(self, last_round: int) -> Path | None:
        """The adapter of the newest round ``<= last_round`` this client finished (None: the fresh one)."""
        fitting = [path for number, path in self._round_files("adapter-round-", ".safetensors")
                   if number <= last_round]
        return fitting[-1] if fitting else None

    def set_adapter(self, state: dict[str, torch.Tensor]) -> None:
        """Load averaged weights (shapes and keys checked) and persist them."""
        device = next(self.model.parameters()).device
        set_adapter_state(self.model, {k: v.to(device) for k, v in state.items()})
        self.save_adapter()

    def save_own(self, round_: int, nll: dict[str, float]) -> None:
        atomic_write_text(self.folder / "own.json", json.dumps({"round": round_, "nll": nll}))

    def restore_own(self, client: Client, round_: int) -> None:
        """Give ``client`` the NLLs of its upload of ``round_`` (saved by :meth:`save_own`)."""
        path = self.folder / "own.json"
        saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if saved.get("round") != round_:
            raise FedMKTError(f"client {self.spec.name!r}: no upload of round {round_} in {self.folder} "
                              f"(last: {saved.get('round')}); the LLM's message cannot be compared")
        client.restore_own_nll(round_, saved["nll"])
