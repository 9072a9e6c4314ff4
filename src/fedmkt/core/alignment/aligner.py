"""One tokenizer pair's alignment state, held by a client or the server across rounds (paper: MinED).

The public set's token sequences never change between rounds, so the sequence alignment of
each public sample is computed once and kept here, keyed by the sample's uid (and a
fingerprint of both id sequences, so a re-tokenised sample is never served a stale entry).
The vocabulary map comes from the on-disk cache. ``save``/``load`` persist the alignments
for runs that restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fedmkt.core.alignment.cache import atomic_save_npz, cached_vocab_map, vocab_map_key
from fedmkt.core.alignment.markers import TokenSurfaces, token_surfaces
from fedmkt.core.alignment.remap import AlignedTopK, align_topk, gather_topk, teacher_rows
from fedmkt.core.alignment.sequence import IdsLike, SequenceAlignment, align_sequences, as_id_array
from fedmkt.core.alignment.vocab_map import VocabMap
from fedmkt.errors import FedMKTError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def _fingerprint(source_ids: np.ndarray, target_ids: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(source_ids.tobytes())
    h.update(b"|")
    h.update(target_ids.tobytes())
    return h.hexdigest()


class Aligner:
    """Aligns a source (teacher) tokenizer's outputs into a target (student) tokenizer.

    Attributes:
        source, target: the two tokenizers' surfaces.
        vocab_map: source id -> target id.
        hits, misses: sequence-alignment cache statistics.
    """

    def __init__(self, source: TokenSurfaces, target: TokenSurfaces, vocab_map: VocabMap) -> None:
        if len(vocab_map) != len(source) or vocab_map.target_size != len(target):
            raise FedMKTError(
                f"vocabulary map: expected {len(source)} -> {len(target)} ids, "
                f"got {len(vocab_map)} -> {vocab_map.target_size}"
            )
        self.source = source
        self.target = target
        self.vocab_map = vocab_map
        self.table = vocab_map.table()
        self.pair_key = vocab_map.key or vocab_map_key(source, target)
        self.hits = 0
        self.misses = 0
        self._alignments: dict[str, tuple[str, SequenceAlignment]] = {}

    @classmethod
    def from_tokenizers(
        cls,
        source_tokenizer: PreTrainedTokenizerBase,
        target_tokenizer: PreTrainedTokenizerBase,
        cache_directory: Path,
        workers: int = -1,
    ) -> Aligner:
        """Read both tokenizers and load (or build and cache in ``cache_directory``) their vocabulary map."""
        source = token_surfaces(source_tokenizer)
        target = token_surfaces(target_tokenizer)
        vocab_map, _ = cached_vocab_map(source, target, cache_directory, workers)
        return cls(source, target, vocab_map)

    def __len__(self) -> int:
        return len(self._alignments)

    def alignment(self, uid: str, source_ids: IdsLike, target_ids: IdsLike) -> SequenceAlignment:
        """Token alignment of one public sample; computed on the first call, cached afterwards.

        Args:
            uid: the public sample's id (``Example.uid``).
            source_ids, target_ids: ``(n,)`` / ``(m,)`` real (unpadded) token ids of the sample.
        """
        src = as_id_array(source_ids)
        tgt = as_id_array(target_ids)
        fingerprint = _fingerprint(src, tgt)
        cached = self._alignments.get(uid)
        if cached is not None and cached[0] == fingerprint:
            self.hits += 1
            return cached[1]
        self.misses += 1
        result = align_sequences(self.source, self.target, src, tgt)
        self._alignments[uid] = (fingerprint, result)
        return result

    def align_topk(
        self,
        uid: str,
        source_ids: IdsLike,
        target_ids: IdsLike,
        target_positions: IdsLike,
        source_positions: IdsLike,
        source_topk_ids: torch.Tensor,
        source_topk_probs: torch.Tensor,
    ) -> AlignedTopK:
        """The teacher's ``(S, k)`` top-k of sample ``uid`` as ``(T, k)`` rows at the student's positions.

        See ``remap.align_topk`` for the arguments; ``source_ids``/``target_ids`` are the
        sample's real token ids on each side.
        """
        alignment = self.alignment(uid, source_ids, target_ids)
        return align_topk(
            alignment,
            target_ids,
            target_positions,
            source_positions,
            source_topk_ids,
            source_topk_probs,
            self.table,
        )

    def align_topk_batch(
        self,
        uids: Sequence[str],
        source_ids: Sequence[IdsLike],
        target_ids: Sequence[IdsLike],
        target_positions: Sequence[IdsLike],
        source_positions: Sequence[IdsLike],
        source_topk_ids: torch.Tensor,
        source_topk_probs: torch.Tensor,
    ) -> AlignedTopK:
        """``align_topk`` for many samples at once, with one remap over all their rows.

        ``source_topk_ids``/``source_topk_probs`` are ``(sum S_i, k)``: each sample's teacher rows
        concatenated in order. The result is ``(sum T_i, k)``, the samples' rows in order
        (split it with ``torch.split`` and the ``len(target_positions[i])``).
        """
        if (
            not len(uids)
            == len(source_ids)
            == len(target_ids)
            == len(target_positions)
            == len(source_positions)
        ):
            raise FedMKTError("align_topk_batch: expected one uid, id sequence and position list per sample")
        all_rows, all_next = [], []
        offset = 0
        for uid, src, tgt, want, have in zip(
            uids, source_ids, target_ids, target_positions, source_positions, strict=True
        ):
            rows, next_ids = teacher_rows(self.alignment(uid, src, tgt), tgt, want, have)
            all_rows.append(np.where(rows >= 0, rows + offset, -1))
            all_next.append(next_ids)
            offset += as_id_array(have).size
        if offset != source_topk_ids.shape[0]:
            raise FedMKTError(
                f"source top-k: expected {offset} rows (one per source position), "
                f"got {source_topk_ids.shape[0]}"
            )
        rows = np.concatenate(all_rows) if all_rows else np.zeros(0, dtype=np.int64)
        next_ids = np.concatenate(all_next) if all_next else np.zeros(0, dtype=np.int64)
        return gather_topk(rows, next_ids, source_topk_ids, source_topk_probs, self.table)

    def save(self, path: Path) -> None:
        """Persist the cached sequence alignments (``.npz``, written atomically)."""
        uids = list(self._alignments)
        entries = [self._alignments[u] for u in uids]
        flat = [a.target_to_source for _, a in entries]
        atomic_save_npz(
            path,
            pair_key=np.str_(self.pair_key),
            uids=np.array(uids, dtype=np.str_),
            fingerprints=np.array([f for f, _ in entries], dtype=np.str_),
            source_lens=np.array([a.source_len for _, a in entries], dtype=np.int64),
            offsets=np.cumsum([0] + [a.size for a in flat]).astype(np.int64),
            target_to_source=np.concatenate(flat) if flat else np.zeros(0, dtype=np.int64),
        )

    def load(self, path: Path) -> int:
        """Add the alignments saved at ``path`` to the cache; returns how many were read."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["pair_key"]) != self.pair_key:
                    raise FedMKTError(f"{path}: alignments belong to another tokenizer pair")
                offsets = data["offsets"]
                flat = data["target_to_source"]
                for i, (uid, fingerprint) in enumerate(zip(data["uids"], data["fingerprints"], strict=True)):
                    alignment = SequenceAlignment(
                        flat[offsets[i] : offsets[i + 1]].copy(), int(data["source_lens"][i])
                    )
                    self._alignments[str(uid)] = (str(fingerprint), alignment)
                return int(len(data["uids"]))
        except (OSError, KeyError, ValueError) as err:
            raise FedMKTError(f"{path}: not a readable alignment cache ({err})") from err
