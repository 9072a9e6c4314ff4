"""Sequence alignment of two tokenizations of one text (paper: MinED, token alignment step).

FuseLLM and FATE-LLM align the two token sequences with DTW over token strings, with edit
distance as the cost, and use the 1:1 steps of the path. That can pair tokens that cover
different text (``["ab","c"]`` vs ``["a","bc"]`` pairs ``ab~a`` and ``c~bc``), so the two
predictions follow different contexts. Here a 1:1 match means what it should: both tokens
cover the *same span of the text*.

Each side's tokens become their surface bytes (``markers``).

* Same text on both sides (the usual case, e.g. Gemma vs SmolLM2): tokens match when their
  byte spans are equal. No search at all.
* Texts that differ only in leading whitespace (a SentencePiece dummy-prefix space): the
  same, after dropping that whitespace.
* Other differences (WordPiece's invented spaces and lowercasing, unknown tokens, a
  normaliser): spans are compared on the text with whitespace removed and
  ASCII lowercased. If those still differ, an edit-distance dynamic programme (LCS/Indel
  ``opcodes`` from rapidfuzz: C, bit-parallel, deterministic) aligns the two texts, and only
  stretches it declares equal map offsets from one side to the other. Whitespace-only tokens
  then match a token with the same bytes at the same place.

Special tokens (BOS, EOS, UNK) have no text; they match a special token with the same role
at the same place. Only real tokens go in: callers strip padding first (``real_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rapidfuzz.distance import Indel

from fedmkt.core.alignment.markers import TokenSurfaces
from fedmkt.errors import FedMKTError

IdsLike = Sequence[int] | np.ndarray | torch.Tensor
_WHITESPACE = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class SequenceAlignment:
    """1:1 token matches between a source and a target tokenization of the same text.

    Attributes:
        target_to_source: ``(target_len,)`` int64; for target token ``j`` the source token
            covering exactly the same text, or -1.
        source_len: number of source tokens.
    """

    target_to_source: np.ndarray
    source_len: int

    @property
    def target_len(self) -> int:
        return int(self.target_to_source.shape[0])

    @property
    def num_matched(self) -> int:
        return int((self.target_to_source >= 0).sum())

    def prediction_sources(self) -> np.ndarray:
        """``(target_len,)`` int64: for each target *prediction* position, its source prediction position.

        The distribution at position ``p`` predicts token ``p + 1``, so target position ``p``
        takes the source position ``i`` whose predicted token ``i + 1`` covers the same text
        as target token ``p + 1``; both contexts then end at the same character, too. -1 where
        there is none (including the last position, which predicts nothing in the text).
        """
        nxt = np.full(self.target_len, -1, dtype=np.int64)
        nxt[:-1] = self.target_to_source[1:]
        return np.where(nxt >= 1, nxt - 1, -1)


def as_id_array(ids: IdsLike) -> np.ndarray:
    """``(n,)`` int64 numpy copy/view of a 1-D id sequence (list, array or tensor)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids, dtype=np.int64)
    if array.ndim != 1:
        raise FedMKTError(f"token ids: expected a 1-D sequence of ints, got shape {array.shape}")
    return array


def real_tokens(input_ids: IdsLike, attention_mask: IdsLike | None = None) -> np.ndarray:
    """``(n,)`` int64 ids of the real tokens of one padded row (``attention_mask == 1``)."""
    ids = as_id_array(input_ids)
    if attention_mask is None:
        return ids
    mask = as_id_array(attention_mask).astype(bool)
    if mask.shape != ids.shape:
        raise FedMKTError(f"attention_mask: expected shape {ids.shape}, got {mask.shape}")
    return ids[mask]


def _spans(surfaces: TokenSurfaces, ids: np.ndarray, side: str) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Concatenated text bytes and each token's ``[start, end)`` byte span."""
    if ids.size and (ids.min() < 0 or ids.max() >= len(surfaces)):
        raise FedMKTError(
            f"{side} token ids: expected ids in [0, {len(surfaces)}), got {ids.min()}..{ids.max()}"
        )
    ends = np.cumsum(surfaces.lengths[ids])
    starts = ends - surfaces.lengths[ids]
    return b"".join([surfaces.surfaces[i] for i in ids.tolist()]), starts, ends


def _compact(text: bytes) -> tuple[np.ndarray, bytes]:
    """``(len+1,)`` offset of every byte boundary in the text without whitespace, and that text lowercased."""
    raw = np.frombuffer(text, dtype=np.uint8)
    keep = ~np.isin(raw, _WHITESPACE)
    offsets = np.zeros(raw.size + 1, dtype=np.int64)
    np.cumsum(keep, out=offsets[1:])
    return offsets, raw[keep].tobytes().lower()


def _offset_maps(source_text: bytes, target_text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Source boundary -> target boundary, as a token start and as a token end (-1: no counterpart).

    Only stretches the LCS alignment calls equal carry offsets over: a span touching deleted or
    inserted text has no counterpart on the other side.
    """
    start_map = np.full(len(source_text) + 1, -1, dtype=np.int64)
    end_map = np.full(len(source_text) + 1, -1, dtype=np.int64)
    end_map[0] = 0
    ops = Indel.opcodes(source_text.decode("latin-1"), target_text.decode("latin-1"))
    for op in ops:
        if op.tag == "equal":
            a1, a2, b1 = op.src_start, op.src_end, op.dest_start
            start_map[a1:a2] = np.arange(b1, b1 + a2 - a1)
            end_map[a1 + 1 : a2 + 1] = np.arange(b1 + 1, b1 + 1 + a2 - a1)
    return start_map, end_map


def align_sequences(
    source: TokenSurfaces, target: TokenSurfaces, source_ids: IdsLike, target_ids: IdsLike
) -> SequenceAlignment:
    """Match the tokens of two tokenizations of one text 1:1 by the text span they cover.

    Args:
        source, target: surfaces of the two tokenizers.
        source_ids: ``(n,)`` real (unpadded) source token ids.
        target_ids: ``(m,)`` real (unpadded) target token ids.
    """
    src = as_id_array(source_ids)
    tgt = as_id_array(target_ids)
    src_text, src_from, src_to = _spans(source, src, "source")
    tgt_text, tgt_from, tgt_to = _spans(target, tgt, "target")
    if src_text != tgt_text and src_text.lstrip() == tgt_text.lstrip():
        # Only leading whitespace differs (a SentencePiece dummy prefix): drop it, exactly.
        src_cut, tgt_cut = len(src_text) - len(src_text.lstrip()), len(tgt_text) - len(tgt_text.lstrip())
        src_from, src_to = np.maximum(src_from - src_cut, 0), np.maximum(src_to - src_cut, 0)
        tgt_from, tgt_to = np.maximum(tgt_from - tgt_cut, 0), np.maximum(tgt_to - tgt_cut, 0)
    elif src_text != tgt_text:
        src_offsets, src_compact = _compact(src_text)
        tgt_offsets, tgt_compact = _compact(tgt_text)
        src_from, src_to = src_offsets[src_from], src_offsets[src_to]
        tgt_from, tgt_to = tgt_offsets[tgt_from], tgt_offsets[tgt_to]
        if src_compact != tgt_compact:
            start_map, end_map = _offset_maps(src_compact, tgt_compact)
            empty = src_to == src_from
            src_from, src_to = np.where(empty, end_map[src_from], start_map[src_from]), end_map[src_to]
            src_to = np.where(empty, src_from, src_to)
    target_to_source = np.full(tgt.size, -1, dtype=np.int64)
    _match_text(src_from, src_to, tgt_from, tgt_to, target_to_source)
    src_keys = _empty_keys(source, src, src_from, src_to)
    tgt_keys = _empty_keys(target, tgt, tgt_from, tgt_to)
    _match_empty(src_keys, tgt_keys, target_to_source)
    return SequenceAlignment(target_to_source, int(src.size))


def _match_text(
    src_from: np.ndarray, src_to: np.ndarray, tgt_from: np.ndarray, tgt_to: np.ndarray, out: np.ndarray
) -> None:
    """Write into ``out`` (target -> source) the pairs whose target spans equal the mapped source spans."""
    has_text = tgt_to > tgt_from
    if not has_text.any():
        return
    by_start = np.full(int(tgt_to.max()) + 1, -1, dtype=np.int64)  # text tokens have distinct starts
    by_start[tgt_from[has_text]] = np.flatnonzero(has_text)
    ok = (src_to > src_from) & (src_from >= 0) & (src_from < by_start.size)
    candidate = np.full(src_from.size, -1, dtype=np.int64)
    candidate[ok] = by_start[src_from[ok]]
    ok &= candidate >= 0
    ok[ok] = tgt_to[candidate[ok]] == src_to[ok]
    matched, counts = np.unique(candidate[ok], return_counts=True)
    if (counts > 1).any():  # impossible for monotone offset maps; keep the result 1:1 regardless
        ok &= ~np.isin(candidate, matched[counts > 1])
    out[candidate[ok]] = np.flatnonzero(ok)


def _empty_keys(
    surfaces: TokenSurfaces, ids: np.ndarray, start: np.ndarray, end: np.ndarray
) -> dict[tuple[int, bytes], list[int]]:
    """Tokens without text in the compared coordinates, grouped by (offset, role or bytes)."""
    groups: dict[tuple[int, bytes], list[int]] = {}
    for i in np.flatnonzero(end == start).tolist():
        token = int(ids[i])
        if surfaces.special[token]:
            key = b"\x00" + surfaces.special_key(token).encode()  # never a whitespace surface
        else:
            key = surfaces.surfaces[token]
        groups.setdefault((int(start[i]), key), []).append(i)
    return groups


def _match_empty(
    src_groups: dict[tuple[int, bytes], list[int]],
    tgt_groups: dict[tuple[int, bytes], list[int]],
    out: np.ndarray,
) -> None:
    """Pair textless tokens with the same key at the same offset, in order, when the counts agree."""
    for key, targets in tgt_groups.items():
        sources = src_groups.get(key, [])
        if key[0] >= 0 and len(sources) == len(targets):
            out[targets] = sources
