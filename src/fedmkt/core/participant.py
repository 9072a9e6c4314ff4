"""What the server and every client share: a model over the public set, publishing what it predicts.

Paper section 3.2, workflow steps 2 and 5: run the model over the public set and publish top-k
distributions and answer NLLs. A :class:`Participant` holds a model, its tokenizer and the public
set encoded once (:class:`~fedmkt.core.public_view.PublicView`); :meth:`Participant.peer` gives
another participant as seen from this one (:class:`~fedmkt.core.peer.Peer`), and training is the
plain :func:`~fedmkt.core.train_phase.train_phase`.

No transport here: messages are bytes in and bytes out; runners move them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.core.gold_agreement import gold_agreement
from fedmkt.core.messages import (
    SCHEMA_VERSION,
    DistributionMessage,
    SampleDistributions,
    encode,
    pack_samples,
)
from fedmkt.core.peer import Peer, PeerInfo
from fedmkt.core.public_view import PublicView
from fedmkt.core.reports import MessageReport
from fedmkt.core.topk import answer_nll, topk_distribution
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.models.logits import decoder_and_head
from fedmkt.training.batching import collate, pad_id
from fedmkt.training.encode import EncodedExample
from fedmkt.training.sft import answer_logits


def logit_width(model: nn.Module) -> int:
    """Width of the model's logits: what its top-k ids index into (may exceed ``len(tokenizer)``)."""
    _, head = decoder_and_head(model)
    return int(head.weight.shape[0])


class Participant:
    """A model with its tokenizer and the public set encoded once: what both roles share.

    Args:
        name: the sender name of its messages.
        model: a causal LM (usually peft-wrapped with a LoRA adapter).
        tokenizer: its tokenizer.
        public: the shared public set.
        max_length: the encoding length of the public set.
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
        self.vocab_size = logit_width(model)
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

    def peer(self, info: PeerInfo, cache_directory: Path) -> Peer:
        """``info``'s participant as seen from this one (aligner ``info`` -> us, its map cached in the folder)."""
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
