"""The public set as one tokenizer encodes it: what every message about it is checked and aligned against.

Paper section 3.2: every participant runs its model over the same public set, each under its own
tokenizer. A :class:`PublicView` is that encoding, made once (``encode_examples``, fixed
``max_length``): a participant holds its own, and the view of each peer it hears from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError
from fedmkt.training.encode import EncodedExample, encode_examples
from fedmkt.training.sft import answer_positions


class PublicView:
    """The public set as one tokenizer encodes it (``encode_examples``, fixed ``max_length``).

    Attributes:
        uids: the public samples' uids, in public-set order.
        encoded: ``EncodedExample`` per sample (``index`` = position in ``uids``).
        ids: per sample, ``(m,)`` int64 token ids.
        kd_positions: which positions are scored: ``answer`` or ``all``.
        positions: per sample, ``(T,)`` int64 scored positions in sequence order (position ``p``
            predicts token ``ids[p + 1]``): the answer positions (``answer_positions``), or with
            ``all`` every position that predicts a token, ``0 .. m - 2``. Message rows and KD
            targets follow them.
        answer_rows: per sample, ``(A,)`` int64 indexes into ``positions`` of its answer positions.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, public: Sequence[Example], max_length: int,
        kd_positions: Literal["answer", "all"] = "answer",
    ) -> None:
        self.uids = [ex.uid for ex in public]
        if len(set(self.uids)) != len(self.uids):
            raise FedMKTError("public set: uids must be unique (they key the federated messages)")
        if kd_positions not in ("answer", "all"):
            raise FedMKTError(f"kd_positions must be 'answer' or 'all', got {kd_positions!r}")
        self.kd_positions = kd_positions
        self.encoded: list[EncodedExample] = encode_examples(tokenizer, public, max_length)
        self.ids = [np.asarray(ex.input_ids, dtype=np.int64) for ex in self.encoded]
        answers = [
            answer_positions(torch.tensor([ex.labels]))[0].nonzero().flatten().numpy() for ex in self.encoded
        ]
        if kd_positions == "answer":
            self.positions = answers
            self.answer_rows = [np.arange(a.size) for a in answers]
        else:
            self.positions = [np.arange(ids.size - 1) for ids in self.ids]
            self.answer_rows = answers  # positions are 0 .. m - 2, so a position is its own row
        self._index = {uid: i for i, uid in enumerate(self.uids)}

    def __len__(self) -> int:
        return len(self.uids)

    def index_of(self, uid: str) -> int:
        """Position of ``uid`` in the public set (= its ``EncodedExample.index``)."""
        return self._index[uid]

    def expected_positions(self) -> dict[str, int]:
        """uid -> number of scored positions: what ``message_checks.receive`` checks a message against."""
        return {uid: int(p.size) for uid, p in zip(self.uids, self.positions, strict=True)}
