"""Another participant as seen from this one: its messages validated and aligned into our tokens.

Paper section 3.2, workflow steps 3 and 7: a side receives the other's top-k distributions and
aligns them into its own vocabulary and scored positions (``kd_positions``). A :class:`Peer` holds what that needs:
the peer's shared metadata (:class:`PeerInfo`: name, tokenizer, logit width), the public set under
ITS tokenizer (to validate its messages and find its positions) and the
:class:`~fedmkt.core.alignment.Aligner` from its vocabulary into ours. Every public sample's
sequence alignment is computed when the peer is built, so no round after that aligns a sequence
again (the token sequences never change).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from fedmkt.core.alignment import Aligner
from fedmkt.core.kd_training import KDTargets, targets_from_aligned
from fedmkt.core.message_checks import receive as receive_message
from fedmkt.core.messages import DistributionMessage
from fedmkt.core.public_view import PublicView
from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError


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


class Peer:
    """Another participant, seen from ``own``: validates its messages and aligns them into ``own``.

    Building it computes the vocabulary map (cached on disk in ``cache_directory``) and the
    sequence alignment of every public sample; ``setup_seconds`` records the cost.
    """

    def __init__(
        self, info: PeerInfo, public: Sequence[Example], own: PublicView,
        own_tokenizer: PreTrainedTokenizerBase, cache_directory: Path,
    ) -> None:
        start = time.perf_counter()
        self.info = info
        self.view = PublicView(info.tokenizer, public, info.max_length, own.kd_positions)
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
        self, message: DistributionMessage, uids: Sequence[str], unmatched_weight: float = 1.0, *,
        fallback: bool = True,
    ) -> tuple[dict[int, KDTargets], int]:
        """The peer's rows for ``uids`` at our scored positions, in our vocabulary.

        ``unmatched_weight`` and ``fallback`` say what positions without an aligned peer row carry
        (``targets_from_aligned``).

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
        targets = dict(zip(index, targets_from_aligned(aligned, counts, unmatched_weight, fallback=fallback),
                           strict=True))
        return targets, int(aligned.matched.sum())
