"""The FedMKT server: the LLM, learning from the clients' SLMs on the public set and teaching them back.

Paper section 3.2, the server's steps of one round:

3. :meth:`Server.receive`: validate each client's upload; a bad one is excluded for the round
   with a one-line reason, never a crash. :meth:`Server.select_and_align`: per public sample, the
   client with the lowest answer NLL (DualMinCE) is the teacher; its rows are aligned into the
   LLM's vocabulary and positions.
4. :meth:`Server.train_public`: ``(1 - lambda) * SFT + lambda * KD`` on the public set.
5-6. :meth:`Server.public_payload`: the LLM's top-k distributions and NLLs, for every client.

LLM2SLM baseline (the LLM is frozen and only teaches): build the server with ``frozen=True``.
Then :meth:`train_public` trains nothing, and since the model cannot change, the public
distributions are computed once and re-sent (relabelled) every round. A runner for that
baseline simply skips the upload, :meth:`receive` and :meth:`select_and_align`.

Clients are registered once with their :class:`~fedmkt.core.peer.PeerInfo`: that builds
their view of the public set and the aligner from their vocabulary into the LLM's. The run's
:class:`~fedmkt.core.exchange_settings.ExchangeSettings` (top-k, lambda, ...) are bound at construction;
a round's calls name only the round.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.kd_training import KDTargets
from fedmkt.core.messages import DistributionMessage, decode
from fedmkt.core.participant import Participant
from fedmkt.core.peer import Peer, PeerInfo
from fedmkt.core.reports import AlignReport, MessageReport, PhaseReport, ReceiveReport
from fedmkt.core.selection import ServerSelection, select_server_teachers
from fedmkt.core.train_phase import Log, public_phase
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.training.loop import ProgressCallback, TrainArgs


class Server:
    """The server's model, its registered clients and per-round state.

    Args:
        name: the server's name (the sender of its messages).
        model: the LLM with a LoRA adapter attached (only the adapter trains).
        tokenizer: the LLM's tokenizer.
        public: the shared public set (same uids and order everywhere).
        settings: the run's exchange settings.
        max_length: encoding length for the public set.
        frozen: LLM2SLM baseline: never train; send the same distributions every round.
        alignment_cache: folder of the on-disk vocabulary-map cache.
    """

    def __init__(
        self, name: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase, public: Sequence[Example],
        *, settings: ExchangeSettings, alignment_cache: Path, max_length: int = 512, frozen: bool = False,
    ) -> None:
        self.participant = Participant(name, model, tokenizer, public, max_length, settings.kd_positions)
        self.settings = settings
        self.frozen = frozen
        self.alignment_cache = alignment_cache
        self.clients: dict[str, Peer] = {}
        self.messages: dict[str, DistributionMessage] = {}
        self.round: int | None = None
        self.targets: dict[int, KDTargets] = {}
        self.selection: ServerSelection | None = None
        self._sent: DistributionMessage | None = None

    @property
    def name(self) -> str:
        return self.participant.name

    @property
    def model(self) -> nn.Module:
        return self.participant.model

    @property
    def info(self) -> PeerInfo:
        """What clients need to know about the server."""
        return self.participant.info

    def register_client(self, info: PeerInfo) -> Peer:
        """Add a client: its view of the public set and its aligner (client -> LLM), built once."""
        if info.name in self.clients or info.name == self.name:
            raise FedMKTError(f"client name {info.name!r} is already taken")
        peer = self.participant.peer(info, self.alignment_cache)
        self.clients[info.name] = peer
        return peer

    def receive(self, messages: Mapping[str, bytes], *, round: int) -> ReceiveReport:
        """Step 3 intake: decode and validate every client's bytes; keep the good ones.

        A message that fails (bad bytes, wrong version, NaN or out-of-range values, wrong round,
        unknown sender...) excludes that client for this round; the report gives the reason.
        """
        self.messages, self.round, self.targets, self.selection = {}, round, {}, None
        rejected: dict[str, str] = {}
        start = time.perf_counter()
        for name, data in messages.items():
            peer = self.clients.get(name)
            if peer is None:
                rejected[name] = "not a registered client"
                continue
            try:
                self.messages[name] = peer.receive(data, round=round, top_k=self.settings.top_k)
            except FedMKTError as error:  # MessageRejected, or any other check of untrusted input
                rejected[name] = getattr(error, "reason", str(error))
        seconds = time.perf_counter() - start
        self.messages = {name: self.messages[name] for name in self.clients if name in self.messages}
        return ReceiveReport(
            receiver=self.name, round=round, accepted=list(self.messages), rejected=rejected,
            missing=[name for name in self.clients if name not in messages],
            nbytes={name: _size(data) for name, data in messages.items()}, decode_seconds=seconds,
        )

    def select_and_align(self) -> AlignReport:
        """Step 3: DualMinCE teacher per public sample among accepted clients; align its rows.

        Ties go to the client registered first; samples with no accepted client get SFT only.
        """
        if self.round is None:
            raise FedMKTError(f"server {self.name!r}: receive the clients' messages before selecting")
        start = time.perf_counter()
        uids = self.participant.view.uids
        selection = select_server_teachers({n: m.nll_by_uid() for n, m in self.messages.items()}, uids)
        selected = time.perf_counter()
        targets: dict[int, KDTargets] = {}
        matched = hits = misses = 0
        for name, message in self.messages.items():
            aligner = self.clients[name].aligner
            before = aligner.hits, aligner.misses
            client_targets, client_matched = self.clients[name].align(
                message, selection.uids_for(name), self.settings.unmatched_weight, fallback=self.settings.public_sft
            )
            targets |= client_targets
            matched += client_matched
            hits, misses = hits + aligner.hits - before[0], misses + aligner.misses - before[1]
        self.targets, self.selection = targets, selection
        return AlignReport(
            receiver=self.name, round=self.round, counts=selection.counts(), aligned_samples=len(targets),
            rows=sum(t.n_positions for t in targets.values()), matched_rows=matched,
            select_seconds=selected - start, align_seconds=time.perf_counter() - selected,
            cache_hits=hits, cache_misses=misses,
        )

    def train_public(
        self, args: TrainArgs, progress: ProgressCallback | None = None, log: Log | None = None
    ) -> PhaseReport:
        """Step 4: SFT + KD toward each sample's selected client (SFT alone where none; KD alone, on the
        samples with a teacher row, without public SFT)."""
        if self.frozen:
            return PhaseReport(
                participant=self.name, phase="public", examples=len(self.participant.view), steps=0,
                tokens=0, seconds=0.0, mean_loss=float("nan"), skipped="frozen LLM (LLM2SLM)",
            )
        p = self.participant
        return public_phase(self.name, self.model, p.pad_id, p.encoded_public, self.targets, self.settings, args,
                            progress, log)

    def public_payload(self, round: int) -> tuple[bytes, MessageReport]:
        """Steps 5-6: the encoded message for every client, and its report.

        A frozen server computes it once and re-sends it with the new round number.
        """
        s = self.settings
        reuse = self._sent if self.frozen and self._sent is not None and self._sent.top_k == s.top_k else None
        message, data, report = self.participant.public_payload(round, s.top_k, s.public_batch_size, reuse=reuse)
        self._sent = message
        return data, report

    def restore_sent(self, data: bytes) -> None:
        """Resume support for a frozen server: ``data`` (its last :meth:`public_payload`) is re-sent.

        A frozen LLM cannot change, so its distributions are computed once; a runner resuming in a
        later round hands back the bytes it kept instead of recomputing them.
        """
        if self.frozen:
            self._sent = decode(data)


def _size(data: object) -> int:
    """Length of received bytes (0 for anything that is not bytes: it was rejected anyway)."""
    return len(data) if isinstance(data, bytes | bytearray | memoryview) else 0
