"""Vocabulary map from a source tokenizer to a target tokenizer (paper: MinED, "minimum edit distance").

Each source id goes to the target id with the same surface text (after the spelling of spaces
and bytes is normalised, see ``markers``); special tokens go to the target token with the same
role (EOS to EOS) or the same literal content; every other id (special tokens without such a
twin included, by their literal content) goes to the ordinary target token at minimum
Levenshtein distance over characters, ties broken by the lowest target id (in BPE and
SentencePiece vocabularies a lower id is an earlier merge or a likelier piece).

The reference implementation scans the whole target vocabulary in Python for every source
token (hours for 262k x 49k). Here exact matches are one dict look-up and the rest is an exact
search with ``rapidfuzz.process.cdist`` (C, SIMD, all cores) that skips what cannot win:
characters absent from the whole target vocabulary are all equivalent, so queries are
rewritten with one placeholder for them and de-duplicated; a query sharing no character with
any target token needs no search; and the others are scanned in widening length bands, since a
token whose length differs by more than ``d`` is farther than ``d``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from fedmkt.core.alignment.markers import ROLES, TokenSurfaces
from fedmkt.errors import FedMKTError

EXACT, ROLE, EDIT, UNMAPPED = 0, 1, 2, -1
_MAX_CELLS = 16_000_000  # distance-matrix cells per cdist call (16 MB as uint8)


@dataclass(frozen=True)
class CoverageStats:
    """How a vocabulary map was built; JSON-able through ``to_dict``.

    ``mean_distance`` and ``max_distance`` are over the edit-distance matches only
    (exact and role matches have distance 0).
    """

    source_size: int
    target_size: int
    exact: int
    role: int
    edit: int
    unmapped: int
    mean_distance: float
    max_distance: int

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class VocabMap:
    """Source id -> target id, stored as arrays indexed by source id.

    Attributes:
        target_ids: ``(source_vocab,)`` int64 target id per source id; -1 for ids without a token.
        distance: ``(source_vocab,)`` int32 edit distance between the two surfaces (0 if exact).
        kind: ``(source_vocab,)`` int8, one of ``EXACT``, ``ROLE``, ``EDIT``, ``UNMAPPED``.
        target_size: size of the target vocabulary.
        key: cache key (hash of both tokenizers' surfaces and the normalisation version).
    """

    target_ids: np.ndarray
    distance: np.ndarray
    kind: np.ndarray
    target_size: int
    key: str = ""

    def __len__(self) -> int:
        return int(self.target_ids.shape[0])

    def table(self, device: torch.device | str | None = None) -> torch.Tensor:
        """``(source_vocab,)`` int64 tensor for gathering top-k ids through the map."""
        return torch.from_numpy(self.target_ids).to(device=device, dtype=torch.long)

    def coverage(self) -> CoverageStats:
        edits = self.distance[self.kind == EDIT]
        return CoverageStats(
            source_size=len(self),
            target_size=self.target_size,
            exact=int((self.kind == EXACT).sum()),
            role=int((self.kind == ROLE).sum()),
            edit=int(edits.size),
            unmapped=int((self.kind == UNMAPPED).sum()),
            mean_distance=float(edits.mean()) if edits.size else 0.0,
            max_distance=int(edits.max()) if edits.size else 0,
        )

    def token_dict(self, source: TokenSurfaces, target: TokenSurfaces) -> dict[str, str]:
        """``{source token: target token}`` with the raw vocabulary strings, for inspection."""
        pairs: dict[str, str] = {}
        for src, tgt in enumerate(self.target_ids.tolist()):
            token = source.tokens[src]
            if tgt >= 0 and token is not None:
                pairs[token] = target.tokens[tgt] or ""
        return pairs


def _as_text(surface: bytes) -> str:
    """Surface as a str for edit distance: characters where UTF-8 is valid, lone bytes otherwise."""
    return surface.decode("utf-8", "surrogateescape")


def nearest_by_edit_distance(
    queries: list[str], choices: list[str], workers: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """For every query, the index of the choice at minimum Levenshtein distance (lowest index on ties).

    Exact: gives the same answer as a full ``queries x choices`` scan while computing only
    what can hold the answer. A query sharing no character with any choice (a script the
    target vocabulary lacks) is at distance ``max(len(q), len(c))`` from every choice: no scan.
    Other queries are scanned in length bands: first the choices within 1 in length; then,
    for a query whose best distance ``d`` exceeded that, the choices from there up to ``d``
    (longer or shorter ones are farther than ``d``).

    Returns:
        ``(index, distance)``, both ``(len(queries),)``; index int64, distance int32.
    """
    if not choices:
        raise FedMKTError("target vocabulary: expected ordinary tokens to match against, found none")
    alphabet = set().union(*choices)
    # Characters no choice contains only ever cost an edit, whichever they are: writing them all
    # as one placeholder keeps every distance and makes many queries identical.
    placeholder = next(chr(c) for c in range(0x10FFFF, 0, -1) if chr(c) not in alphabet)
    canonical = ["".join(c if c in alphabet else placeholder for c in q) for q in queries]
    unique, inverse = np.unique(np.array(canonical, dtype=object), return_inverse=True)
    best, dist = _nearest_unique(unique.tolist(), choices, placeholder, workers)
    return best[inverse], dist[inverse]


def _nearest_unique(
    queries: list[str], choices: list[str], placeholder: str, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """``nearest_by_edit_distance`` for distinct queries whose foreign characters are ``placeholder``."""
    best = np.full(len(queries), -1, dtype=np.int64)
    dist = np.full(len(queries), -1, dtype=np.int32)
    q_len = np.fromiter(map(len, queries), dtype=np.int64, count=len(queries))
    c_len = np.fromiter(map(len, choices), dtype=np.int64, count=len(choices))
    alien = np.fromiter((q.count(placeholder) == len(q) for q in queries), dtype=bool, count=len(queries))
    for length in np.unique(q_len).tolist():
        group = q_len == length
        rows = np.flatnonzero(group & alien)
        if rows.size:  # no shared character: substitute, then insert or delete the rest
            cost = np.maximum(c_len, length)
            best[rows], dist[rows] = int(cost.argmin()), int(cost.min())
        gap = np.abs(c_len - length)
        rows = np.flatnonzero(group & ~alien)
        dist[rows] = np.iinfo(np.int32).max
        work = [(rows, -1, max(1, int(gap.min())))]  # rows whose choices with gap in (done, upto] are due
        while work:
            rows, done, upto = work.pop()
            cand = np.flatnonzero((gap > done) & (gap <= upto))  # ascending, so argmin = lowest index
            if rows.size and cand.size:
                found, found_dist = _argmin_rows(
                    [queries[r] for r in rows.tolist()], [choices[c] for c in cand.tolist()], workers
                )
                found = cand[found]
                better = (found_dist < dist[rows]) | ((found_dist == dist[rows]) & (found < best[rows]))
                best[rows[better]], dist[rows[better]] = found[better], found_dist[better]
            # A choice whose length differs by more than d is farther than d: rows at distance d
            # are final once every choice within d in length has been seen.
            open_rows = rows[dist[rows] > upto]
            for needed in np.unique(dist[open_rows]).tolist():
                work.append((open_rows[dist[open_rows] == needed], upto, needed))
    return best, dist


def _argmin_rows(queries: list[str], choices: list[str], workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise (argmin, min) of the Levenshtein matrix, computed in chunks that fit in memory.

    Distances are stored as uint8 capped at 255 (``score_cutoff=254``) - a quarter of the
    memory traffic of int32 - unless a query is long enough for its best distance to reach the cap.
    """
    bound = max(max(map(len, queries)), min(map(len, choices)))  # no row's minimum exceeds this
    dtype, cutoff = (np.uint8, 254) if bound < 255 else (np.int32, None)
    chunk = max(1, _MAX_CELLS // max(1, len(choices)))
    idx = np.empty(len(queries), dtype=np.int64)
    dist = np.empty(len(queries), dtype=np.int32)
    for start in range(0, len(queries), chunk):
        block = process.cdist(
            queries[start : start + chunk],
            choices,
            scorer=Levenshtein.distance,
            score_cutoff=cutoff,
            dtype=dtype,
            workers=workers,
        )
        arg = block.argmin(axis=1)
        idx[start : start + chunk] = arg
        dist[start : start + chunk] = block[np.arange(block.shape[0]), arg]
    return idx, dist


def _target_index(target: TokenSurfaces) -> dict[bytes, int]:
    """Surface -> preferred target id: ordinary pieces before byte-fallback pieces, then lowest id.

    A target tokenizer spells "A" with its ordinary piece, not with ``<0x41>``, so the teacher's
    probability belongs on the piece the target model actually predicts.
    """
    index: dict[bytes, int] = {}
    ordinary = np.flatnonzero(~target.special & ~target.byte_token).tolist()
    for i in ordinary + np.flatnonzero(target.byte_token).tolist():
        if target.tokens[i] is not None:
            index.setdefault(target.surfaces[i], i)
    return index


def build_vocab_map(source: TokenSurfaces, target: TokenSurfaces, workers: int = -1) -> VocabMap:
    """Map every source id to a target id (see the module docstring for the rules).

    Args:
        source: surfaces of the tokenizer whose ids are mapped (the teacher's).
        target: surfaces of the tokenizer the ids are mapped into.
        workers: rapidfuzz worker threads, -1 for all cores.
    """
    size = len(source)
    target_ids = np.full(size, -1, dtype=np.int64)
    distance = np.zeros(size, dtype=np.int32)
    kind = np.full(size, UNMAPPED, dtype=np.int8)
    index = _target_index(target)
    special_content = {target.tokens[i]: i for i in np.flatnonzero(target.special)[::-1].tolist()}
    pending: dict[str, list[int]] = {}  # query text -> source ids needing an edit-distance match
    for i, token in enumerate(source.tokens):
        if token is None:
            continue
        if source.special[i]:
            role = next((r for r in ROLES if source.roles.get(r) == i and r in target.roles), None)
            match = target.roles[role] if role else special_content.get(token)
            if match is not None:
                target_ids[i], kind[i] = match, ROLE
            else:
                pending.setdefault(token, []).append(i)
        elif (match := index.get(source.surfaces[i])) is not None:
            target_ids[i], kind[i] = match, EXACT
        else:
            pending.setdefault(_as_text(source.surfaces[i]), []).append(i)
    if pending:
        choice_ids = np.array(sorted(index.values()), dtype=np.int64)
        choices = [_as_text(target.surfaces[i]) for i in choice_ids.tolist()]
        queries = list(pending)
        found, found_dist = nearest_by_edit_distance(queries, choices, workers)
        for query, j, d in zip(queries, found.tolist(), found_dist.tolist(), strict=True):
            ids = pending[query]
            target_ids[ids], distance[ids], kind[ids] = choice_ids[j], d, EDIT
    return VocabMap(target_ids, distance, kind, len(target))
