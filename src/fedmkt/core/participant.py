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
from typing import Literal

import numpy as np
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
from fedmkt.models.logits import decoder_and_head, head_logits, hidden_states
from fedmkt.training.batching import collate, pad_id
from fedmkt.training.encode import EncodedExample
from fedmkt.training.sft import answer_logits, answer_positions, next_token_ids, prediction_positions


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
        kd_positions: the positions its messages carry and its peers' rows are aligned onto
            (``PublicView``): ``answer`` or ``all``.
    """

    head_chunk_logits = 2**28
    """Logits per LM-head chunk of the all-positions pass (1 GiB in fp32)."""

    def __init__(
        self, name: str, model: nn.Module, tokenizer: PreTrainedTokenizerBase,
        public: Sequence[Example], max_length: int, kd_positions: Literal["answer", "all"] = "answer",
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.public = list(public)
        self.max_length = max_length
        self.view = PublicView(tokenizer, self.public, max_length, kd_positions)
        self.vocab_size = logit_width(model)
        self.pad_id = pad_id(tokenizer)

    @property
    def info(self) -> PeerInfo:
        return PeerInfo(self.name, self.tokenizer, self.vocab_size, self.max_length)

    @property
    def encoded_public(self) -> list[EncodedExample]:
        return self.view.encoded

    def expected_positions(self) -> dict[str, int]:
        """uid -> scored positions under this participant's tokenizer (validates messages FROM it)."""
        return self.view.expected_positions()

    def peer(self, info: PeerInfo, cache_directory: Path) -> Peer:
        """``info``'s participant as seen from this one (aligner ``info`` -> us, its map cached in the folder)."""
        return Peer(info, self.public, self.view, self.tokenizer, cache_directory)

    def _all_position_samples(
        self, uids: list[str], batch: dict[str, torch.Tensor], top_k: int
    ) -> list[SampleDistributions]:
        """One batch's samples with a row at every position that predicts a token (``kd_positions: all``).

        The NLL is still the answer's. These rows are several times the answers' and a large
        vocabulary's head is wide (Gemma: 262,144), so after one pass of the decoder the head is
        applied to chunks of rows (``head_chunk_logits`` logits each), keeping only each chunk's top-k.
        """
        positions = prediction_positions(batch["attention_mask"])  # (b, seq)
        hidden = hidden_states(self.model, batch["input_ids"], batch["attention_mask"])[positions]  # (n, h)
        next_ids = next_token_ids(batch["input_ids"])[positions]  # (n,)
        chunk = max(1, self.head_chunk_logits // self.vocab_size)
        ids, probs, nll = [], [], []
        for rows, targets in zip(hidden.split(chunk), next_ids.split(chunk), strict=True):
            logits = head_logits(self.model, rows)  # (c, vocab)
            top_ids, top_probs = topk_distribution(logits, top_k)
            ids.append(top_ids)
            probs.append(top_probs)
            nll.append(torch.nn.functional.cross_entropy(logits.float(), targets, reduction="none"))
        sample_index = positions.nonzero()[:, 0]  # (n,)
        answer = answer_positions(batch["labels"])[positions]  # (n,)
        totals = torch.zeros(len(uids), dtype=torch.float32, device=hidden.device)
        answer_nll_ = totals.index_add_(0, sample_index[answer], torch.cat(nll)[answer])
        return pack_samples(uids, torch.cat(ids), torch.cat(probs), answer_nll_, sample_index, self.vocab_size)

    @torch.no_grad()
    def public_distributions(
        self, round: int, top_k: int, batch_size: int = 16, sender: str | None = None
    ) -> DistributionMessage:
        """Top-k distribution at every scored position and the answer NLL of each public sample.

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
                uids = [self.view.uids[i] for i in rows]
                if self.view.kd_positions == "all":
                    for sample in self._all_position_samples(uids, batch, top_k):
                        samples[sample.uid] = sample
                    continue
                answers = answer_logits(self.model, batch)  # logits (n, vocab)
                sample_index = answers.sample_index()  # (n,)
                ids, probs = topk_distribution(answers.logits, top_k)  # (n, k)
                nll = answer_nll(answers.logits, answers.targets, sample_index, len(rows))  # (b,)
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
        agreement = gold_agreement(*self._answer_rows(message, rows))
        report = MessageReport(
            sender=self.name, round=round, n_samples=len(message.samples),
            n_positions=sum(s.n_positions for s in message.samples), nbytes=len(data),
            compute_seconds=computed - start, encode_seconds=encoded - computed,
            reused=reuse is not None, gold_top1=agreement.top1, gold_prob=agreement.prob,
        )
        return message, data, report

    def _answer_rows(
        self, message: DistributionMessage, rows: list[int]
    ) -> tuple[list[SampleDistributions], list[np.ndarray]]:
        """The message's rows at answer positions and the gold answer token each predicts (``gold_agreement``)."""
        view = self.view
        golds = [view.ids[i][view.positions[i][view.answer_rows[i]] + 1] for i in rows]
        if view.kd_positions == "answer":
            return message.samples, golds
        samples = [
            replace(s, token_ids=s.token_ids[view.answer_rows[i]], probs=s.probs[view.answer_rows[i]])
            for s, i in zip(message.samples, rows, strict=True)
        ]
        return samples, golds
