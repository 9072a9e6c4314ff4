"""A FedMKT client: a small model with private data, learning from the server's LLM on the public set.

Paper section 3.2, the client's steps of one round:

1. :meth:`Client.train_private`: SFT of its LoRA adapter on its private data.
2. :meth:`Client.public_payload`: top-k distributions and answer NLLs on the public set, to upload
   (the NLLs are remembered: they are "the SLM's own" cross-entropy of step 8).
7. :meth:`Client.receive_llm`: validate the LLM's message, choose per public sample whether to
   distill (DualMinCE: only where the LLM's answer NLL is lower than its own) and align the
   LLM's rows into its own vocabulary and positions.
8. :meth:`Client.train_public`: ``(1 - lambda) * SFT + lambda * KD`` on the public set, KD toward
   the LLM on the chosen samples, SFT alone elsewhere (see ``fedmkt.core.kd_training``).

The server is known by its :class:`~fedmkt.core.peer.PeerInfo` (tokenizer, logit width,
max_length); the aligner from its vocabulary into the client's is built once, at construction, and
the run's :class:`~fedmkt.core.exchange_settings.ExchangeSettings` are bound then too.
Plain FedAvg's client has only the private half (:class:`PrivateClient`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.kd_training import KDTargets
from fedmkt.core.participant import Participant
from fedmkt.core.peer import PeerInfo
from fedmkt.core.reports import AlignReport, MessageReport, PhaseReport, PrivacyReport
from fedmkt.core.selection import ClientSelection, select_client_teacher
from fedmkt.core.train_phase import Log, private_phase, public_phase
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.privacy.budget import PrivacyLedger
from fedmkt.training.batching import pad_id
from fedmkt.training.encode import encode_examples
from fedmkt.training.loop import ProgressCallback, TrainArgs, trainable_count


class PrivateClient:
    """A client's private half: its model, its private data and step 1. Plain FedAvg's whole client.

    Args:
        name: the client's name.
        model: its small LM with a LoRA adapter attached (only the adapter trains).
        tokenizer: the model's tokenizer.
        private: its private training examples (never leave the client).
        max_length: encoding length of the private set.
        privacy: its DP-SGD settings and what it has spent (None: plain SFT); the ledger stays with the client.
    """

    def __init__(
        self, name: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase, private: Sequence[Example],
        *, max_length: int = 512, privacy: PrivacyLedger | None = None,
    ) -> None:
        if not private:
            raise FedMKTError(f"client {name!r}: private data is empty")
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.private = list(private)
        self.encoded_private = encode_examples(tokenizer, self.private, max_length)
        self.pad_id = pad_id(tokenizer)
        self.privacy = privacy

    @property
    def n_private(self) -> int:
        """Private data size: the client's FedAvg weight."""
        return len(self.private)

    def train_private(
        self, args: TrainArgs, progress: ProgressCallback | None = None, log: Log | None = None
    ) -> PhaseReport:
        """Step 1: SFT on the private data (answer tokens only); DP-SGD with a privacy ledger."""
        return private_phase(self.name, self.model, self.pad_id, self.encoded_private, args, self.privacy,
                             progress, log)

    def privacy_report(self, phase_steps: int) -> PrivacyReport | None:
        """What the client's DP-SGD has spent so far (None without it); ``phase_steps``: the last phase's steps."""
        if self.privacy is None:
            return None
        return PrivacyReport.of(self.privacy, self.name, phase_steps, trainable=trainable_count(self.model),
                                n_private=self.n_private)


class Client(PrivateClient):
    """One client's model, data and per-round state.

    Args:
        name: the client's name (the sender of its messages).
        model: its small LM with a LoRA adapter attached (only the adapter trains).
        tokenizer: the model's tokenizer.
        private: its private training examples (never leave the client).
        public: the shared public set (same uids and order everywhere).
        server: the server's shared metadata.
        settings: the run's exchange settings.
        max_length: encoding length for the private and public sets.
        alignment_cache: folder of the on-disk vocabulary-map cache.
        privacy: its DP-SGD ledger (None: plain SFT on the private data).
    """

    def __init__(
        self, name: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase, private: Sequence[Example],
        public: Sequence[Example], server: PeerInfo, *, settings: ExchangeSettings, alignment_cache: Path,
        max_length: int = 512, privacy: PrivacyLedger | None = None,
    ) -> None:
        super().__init__(name, model, tokenizer, private, max_length=max_length, privacy=privacy)
        self.settings = settings
        self.participant = Participant(name, model, tokenizer, public, max_length, settings.kd_positions)
        self.server = self.participant.peer(server, alignment_cache)
        self.own_nll: dict[str, float] = {}
        self.own_round: int | None = None
        self.targets: dict[int, KDTargets] = {}
        self.selection: ClientSelection | None = None

    @property
    def info(self) -> PeerInfo:
        """What the server needs to know about this client (for ``Server.register_client``)."""
        return self.participant.info

    def public_payload(self, round: int) -> tuple[bytes, MessageReport]:
        """Step 2: the encoded message to upload, and its report (its NLLs kept as the client's own)."""
        s = self.settings
        message, data, report = self.participant.public_payload(round, s.top_k, s.public_batch_size)
        self.own_nll, self.own_round = message.nll_by_uid(), round
        return data, report

    def restore_own_nll(self, round: int, nll: Mapping[str, float]) -> None:
        """Resume support: remember ``nll`` as the client's own answer NLLs of ``round``.

        What :meth:`public_payload` of that round remembered (``message.nll_by_uid()``); a runner
        resuming after the upload restores it instead of recomputing the whole public pass.
        """
        self.own_nll, self.own_round = {uid: float(value) for uid, value in nll.items()}, round

    def receive_llm(self, data: bytes, *, round: int) -> AlignReport:
        """Step 7: validate the LLM's message, select samples (DualMinCE) and align their rows.

        The client's own NLLs are those of its :meth:`public_payload` of the same round, i.e. after
        its private training (step 2). Raises ``MessageRejected`` (a ``FedMKTError``) if the bytes
        are not a valid message from the server for this round; the previous round's targets are
        dropped either way.
        """
        self.targets, self.selection = {}, None
        if self.own_round != round:
            raise FedMKTError(
                f"client {self.name!r}: compute its public message (its own NLL) of round {round} "
                f"before receiving the LLM's"
            )
        start = time.perf_counter()
        message = self.server.receive(data, round=round, top_k=self.settings.top_k)
        decoded = time.perf_counter()
        uids = self.participant.view.uids
        selection = select_client_teacher(message.nll_by_uid(), self.own_nll, uids)
        selected = time.perf_counter()
        hits, misses = self.server.aligner.hits, self.server.aligner.misses
        targets, matched = self.server.align(message, selection.uids_to_distill(), self.settings.unmatched_weight,
                                             fallback=self.settings.public_sft)
        aligned = time.perf_counter()
        self.targets, self.selection = targets, selection
        return AlignReport(
            receiver=self.name, round=round, counts=selection.counts(), aligned_samples=len(targets),
            rows=sum(t.n_positions for t in targets.values()),
            matched_rows=matched, select_seconds=selected - decoded,
            align_seconds=aligned - selected, cache_hits=self.server.aligner.hits - hits,
            cache_misses=self.server.aligner.misses - misses, decode_seconds=decoded - start,
        )

    def train_public(
        self, args: TrainArgs, progress: ProgressCallback | None = None, log: Log | None = None
    ) -> PhaseReport:
        """Step 8: SFT + KD toward the LLM on the selected public samples, SFT alone elsewhere.

        Without a received message (none yet, or the last one rejected) this is plain SFT on the
        public set. Without public SFT (``settings.public_sft`` False) it is KD alone on the samples
        with a teacher row, and skipped when there are none.
        """
        return public_phase(self.name, self.model, self.pad_id, self.participant.encoded_public, self.targets,
                            self.settings, args, progress, log)

