"""What the server and every client share: a model over the public set, and its view of the others.

Paper section 3.2 (workflow steps 2/5: run the model over the public set and publish top-k
distributions and answer NLLs; steps 3/7: align another side's distributions into one's own
tokens). A :class:`Participant` holds a model, its tokenizer and the public set encoded once;
a :class:`Peer` is another participant as seen from this one: its name, tokenizer and logit
width (shared metadata, :class:`PeerInfo`), the public set under ITS tokenizer (to validate
its messages and find its positions) and the :class:`~fedmkt.core.alignment.Aligner` from its
vocabulary into ours. Every public sample's sequence alignment is computed when the peer is
built, so no round after that aligns a sequence again (the token sequences never change).

No transport here: messages are bytes in and bytes out; runners move them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.core.alignment import Aligner
from fedmkt.core.gold_agreement import gold_agreement
from fedmkt.core.kd_training import KDTargets, targets_from_aligned
from fedmkt.core.message_checks import receive as receive_message
from fedmkt.core.messages import (
    SCHEMA_VERSION,
    DistributionMessage,
    SampleDistributions,
    encode,
    pack_samples,
)
from fedmkt.core.reports import MessageReport, PhaseReport
from fedmkt.core.topk import answer_nll, topk_distribution
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.logits import decoder_and_head
from fedmkt.training.batching import BucketedBatches, collate, pad_id
from fedmkt.training.encode import EncodedExample, encode_examples
from fedmkt.training.loop import LossFn, ProgressCallback, TrainArgs, train
from fedmkt.training.sft import answer_logits, answer_positions


@dataclass(frozen=True)
class PeerInfo:
    """Shared metadata about a participant: enough to validate and align its messages.

    Attributes:
        name: the participant's name (the ``sender`` of its messages).
        tokenizer: its tokenizer (tokenizers are public; weights and private data are not).
        vocab_size: width of its logits (what its top-k ids index into).
        max_length: the ``max_length`` it encodes the public set with.
    """

    name: str
    tokenizer: PreTrainedTokenizerBase
    vocab_size: int
    max_length: int


class PublicView:
    """The public set as one tokenizer encodes it (``encode_examples``, fixed ``max_length``).

    Attributes:
        uids: the public samples' uids, in public-set order.
        encoded: ``EncodedExample`` per sample (``index`` = position in ``uids``).
        ids: per sample, ``(m,)`` int64 token ids.
        positions: per sample, ``(T,)`` int64 answer positions (``answer_positions``: position
            ``p`` predicts answer token ``ids[p + 1]``), in sequence order.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, public: Sequence[Example], max_length: int
    ) -> None:
        self.uids = [ex.uid for ex in public]
        if len(set(self.uids)) != len(self.uids):
            raise FedMKTError("public set: uids must be unique (they key the federated messages)")
        self.encoded: list[EncodedExample] = encode_examples(tokenizer, public, max_length)
        self.ids = [np.asarray(ex.input_ids, dtype=np.int64) for ex in self.encoded]
        self.positions = [
            answer_positions(torch.tensor([ex.labels]))[0].nonzero().flatten().numpy() for ex in self.encoded
        ]
        self._index = {uid: i for i, uid in enumerate(self.uids)}

    def __len__(self) -> int:
        return len(self.uids)

    def index_of(self, uid: str) -> int:
        """Position of ``uid`` in the public set (= its ``EncodedExample.index``)."""
        return self._index[uid]

    def expected_positions(self) -> dict[str, int]:
        """uid -> number of answer positions: what ``message_checks.receive`` checks a message against."""
        return {uid: int(p.size) for uid, p in zip(self.uids, self.positions, strict=True)}


class Peer:
    """Another participant, seen from ``own``: validates its messages and aligns them into ``own``.

    Building it computes the vocabulary map (cached on disk by ``cache_directory``) and the
    sequence alignment of every public sample; ``setup_seconds`` records the cost.
    """

    def __init__(
        self, info: PeerInfo, public: Sequence[Example], own: PublicView,
        own_tokenizer: PreTrainedTokenizerBase, cache_directory: Path | None = None,
    ) -> None:
        start = time.perf_counter()
        self.info = info
        self.view = PublicView(info.tokenizer, public, info.max_length)
        if self.view.uids != own.uids:
            raise FedMKTError(f"peer {info.name!r}: public set differs from ours (uids or order)")
        self.own = own
        self.aligner = Aligner.from_tokenizers(info.tokenizer, own_tokenizer, cache_directory)
        for uid, src, tgt in zip(own.uids, self.view.ids, own.ids, strict=True):
            self.aligner.alignment(uid, src, tgt)
        self.setup_seconds = time.perf_counter() - start

    @property
    def name(self) -> str:
        return self.info.name

    def receive(self, data: bytes, *, round: int, top_k: int) -> DistributionMessage:
        """Size-check, decode and validate bytes from this peer; raises ``MessageRejected``."""
        return receive_message(
            data, expected_positions=self.view.expected_positions(), vocab_size=self.info.vocab_size,
            top_k=top_k, sender=self.info.name, round=round,
        )

    def align(
        self, message: DistributionMessage, uids: Sequence[str], unmatched_weight: float = 1.0
    ) -> tuple[dict[int, KDTargets], int]:
        """The peer's rows for ``uids`` at our answer positions, in our vocabulary.

        Returns:
            our encoded-example index -> :class:`KDTargets` (for the training loss), and how many
            of their rows came from a peer row rather than the one-hot fallback.
        """
        if not uids:
            return {}, 0
        by_uid = message.by_uid()
        rows = [by_uid[uid] for uid in uids]
        index = [self.own.index_of(uid) for uid in uids]
        aligned = self.aligner.align_topk_batch(
            list(uids),
            [self.view.ids[i] for i in index],
            [self.own.ids[i] for i in index],
            [self.own.positions[i] for i in index],
            [self.view.positions[i] for i in index],
            torch.from_numpy(np.concatenate([s.token_ids for s in rows]).astype(np.int64)),
            torch.from_numpy(np.concatenate([s.probs for s in rows]).astype(np.float32)),
        )
        counts = [self.own.positions[i].size for i in index]
        targets = dict(zip(index, targets_from_aligned(aligned, counts, unmatched_weight), strict=True))
        return targets, int(aligned.matched.sum())


def _logit_width(model: nn.Module) -> int:
    _, head = decoder_and_head(model)
    return int(head.weight.shape[0])


class Participant:
    """A model with its tokenizer and the public set encoded once: what both roles share.

    Args:
        name: the sender name of its messages.
        model: a causal LM (usually peft-wrapped with a LoRA adapter; only trainable parameters
            are trained).
        tokenizer: its tokenizer.
        public: the shared public set.
        max_length: the encoding length for every set this participant trains or scores on.
    """

    def __init__(
        self, name: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase,
        public: Sequence[Example], max_length: int,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.public = list(public)
        self.max_length = max_length
        self.view = PublicView(tokenizer, self.public, max_length)
        self.vocab_size = _logit_width(model)
        self.pad_id = pad_id(tokenizer)

    @property
    def info(self) -> PeerInfo:
        return PeerInfo(self.name, self.tokenizer, self.vocab_size, self.max_length)

    @property
    def encoded_public(self) -> list[EncodedExample]:
        return self.view.encoded

    def expected_positions(self) -> dict[str, int]:
        """uid -> answer positions under this participant's tokenizer (validates messages FROM it)."""
        return self.view.expected_positions()

    def encode(self, examples: Sequence[Example]) -> list[EncodedExample]:
        """``examples`` encoded as this participant trains on them (its tokenizer and ``max_length``)."""
        return encode_examples(self.tokenizer, examples, self.max_length)

    def peer(self, info: PeerInfo, cache_directory: Path | None = None) -> Peer:
        """``info``'s participant as seen from this one (aligner ``info`` -> us)."""
        return Peer(info, self.public, self.view, self.tokenizer, cache_directory)

    @torch.no_grad()
    def public_distributions(
        self, round: int, top_k: int, batch_size: int = 16, sender: str | None = None
    ) -> DistributionMessage:
        """Top-k distribution at every answer position and the answer NLL of each public sample.

        Batches are formed by length (little padding), in eval mode without gradients; the
        samples of the message are in public-set order. Deterministic: no sampling, no dropout.
        """
        if batch_size < 1:
            raise FedMKTError(f"batch_size must be >= 1, got {batch_size}")
        device = next(self.model.parameters()).device
        order = sorted(range(len(self.view)), key=lambda i: (len(self.view.encoded[i]), i))
        samples: dict[str, SampleDistributions] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                padded = collate([self.view.encoded[i] for i in rows], self.pad_id)
                batch = {k: v.to(device) for k, v in padded.items()}
                answers = answer_logits(self.model, batch)  # logits (n, vocab)
                sample_index = answers.sample_index()  # (n,)
                ids, probs = topk_distribution(answers.logits, top_k)  # (n, k)
                nll = answer_nll(answers.logits, answers.targets, sample_index, len(rows))  # (b,)
                uids = [self.view.uids[i] for i in rows]
                for sample in pack_samples(uids, ids, probs, nll, sample_index, answers.logits.shape[-1]):
                    samples[sample.uid] = sample
        finally:
            self.model.train(was_training)
        return DistributionMessage(
            schema_version=SCHEMA_VERSION, sender=sender or self.name, round=round,
            vocab_size=self.vocab_size, top_k=top_k, samples=[samples[uid] for uid in self.view.uids],
        )

    def public_payload(
        self, round: int, top_k: int, batch_size: int = 16, *, reuse: DistributionMessage | None = None
    ) -> tuple[DistributionMessage, bytes, MessageReport]:
        """:meth:`public_distributions` (or ``reuse`` relabelled to ``round``), encoded for the wire."""
        start = time.perf_counter()
        if reuse is not None:
            message = replace(reuse, round=round)
        else:
            message = self.public_distributions(round, top_k, batch_size)
        computed = time.perf_counter()
        data = encode(message)
        encoded = time.perf_counter()
        rows = [self.view.index_of(sample.uid) for sample in message.samples]
        agreement = gold_agreement(message.samples, [self.view.ids[i][self.view.positions[i] + 1] for i in rows])
        report = MessageReport(
            sender=self.name, round=round, n_samples=len(message.samples),
            n_positions=sum(s.n_positions for s in message.samples), nbytes=len(data),
            compute_seconds=computed - start, encode_seconds=encoded - computed,
            reused=reuse is not None, gold_top1=agreement.top1, gold_prob=agreement.prob,
        )
        return message, data, report

    def train(
        self, encoded: Sequence[EncodedExample], loss_fn: LossFn, args: TrainArgs, phase: str,
        progress: ProgressCallback | None = None, log: Callable[[dict], None] | None = None,
    ) -> PhaseReport:
        """Train the model's adapter on ``encoded`` (length-bucketed, shuffled by ``args.seed``).

        The encodings use this participant's ``max_length``; ``args.max_length`` is not read.
        """
        if not encoded:
            raise FedMKTError(f"{self.name}: nothing to train on in phase {phase}")
        batches = BucketedBatches(encoded, args.batch_size, self.pad_id, seed=args.seed)
        metrics: dict[str, list[float]] = {}

        def record(step: dict) -> None:
            for key in ("sft_loss", "kd_loss", "kd_positions"):
                if key in step:
                    metrics.setdefault(key, []).append(float(step[key]))
            if log is not None:
                log({"participant": self.name, "phase": phase, **step})

        stats = train(self.model, batches, loss_fn, args, progress, record)
        return PhaseReport(
            participant=self.name, phase=phase, examples=len(encoded), steps=stats.steps,
            tokens=stats.tokens, seconds=stats.seconds, mean_loss=stats.mean_loss,
            metrics={key: sum(v) / len(v) for key, v in metrics.items()},
        )
