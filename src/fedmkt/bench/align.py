"""``fedmkt bench align``: what cross-tokenizer alignment (paper: MinED) costs, both directions.

Three figures per direction ``a_to_b`` (A's top-k carried into B's vocabulary) and ``b_to_a``:

- ``vocab_map_seconds``: reading both tokenizers' surfaces and building the vocabulary map
  from an EMPTY cache (a temporary folder, so the user's cache is untouched and nothing is
  loaded instead of built);
- ``align_cold_seconds``: ``Aligner.align_topk_batch`` over the N public samples with the map
  built but no sequence alignment cached (what round 1 pays);
- ``align_warm_seconds``: the same call again, every sequence alignment cached (round 2 on).

The payload is synthetic but has the real shapes: one ``(k,)`` row of distinct random ids and
random probabilities per answer position of the SOURCE tokenization (``PublicView``); the
alignment work does not depend on the values. No model is loaded.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from fedmkt.core.alignment import Aligner
from fedmkt.core.public_view import PublicView
from fedmkt.data.example import Example
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError
from fedmkt.models.loading import load_tokenizer
from fedmkt.models.tiny import is_tiny_name

_ROW_CHUNK = 64  # rows of random logits drawn at once: bounds memory for 256k vocabularies


def default_task(model_a: str, model_b: str) -> str:
    """``tiny_qa`` when both models are tiny (their tokenizers only know that text), else ``arc_easy``."""
    return "tiny_qa" if is_tiny_name(model_a) and is_tiny_name(model_b) else "arc_easy"


def public_samples(task: str, n: int) -> list[Example]:
    """The first ``n`` examples of the task's train split (the pool the public set is drawn from)."""
    t = get_task(task)
    examples = t.load(t.train_split)
    if n < 1 or not examples:
        raise FedMKTError(f"bench align: --n must be >= 1 and task {task!r} must have train examples")
    return examples[:n]


def random_topk(rows: int, vocab_size: int, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, k)`` distinct random ids in ``[0, vocab_size)`` and their softmax probabilities.

    Valid top-k rows (descending probabilities, row sums below 1) without a model forward;
    the logits are drawn ``_ROW_CHUNK`` rows at a time to keep ``(chunk, vocab)`` small.
    """
    k = min(k, vocab_size)
    ids, probs = [], []
    for start in range(0, rows, _ROW_CHUNK):
        logits = torch.randn(min(_ROW_CHUNK, rows - start), vocab_size, generator=generator)
        top = torch.softmax(logits, dim=-1).topk(k, dim=-1)
        ids.append(top.indices)
        probs.append(top.values)
    if not ids:
        return torch.zeros(0, k, dtype=torch.int64), torch.zeros(0, k)
    return torch.cat(ids), torch.cat(probs)


def _direction(
    source: PublicView, target: PublicView, aligner: Aligner, top_k: int, seed: int
) -> dict[str, Any]:
    """Cold then warm ``align_topk_batch`` of every sample from ``source`` into ``target``."""
    ids, probs = random_topk(
        sum(p.size for p in source.positions), len(aligner.source), top_k, torch.Generator().manual_seed(seed)
    )
    args = (source.uids, source.ids, target.ids, target.positions, source.positions, ids, probs)
    start = time.perf_counter()
    aligned = aligner.align_topk_batch(*args)
    cold = time.perf_counter() - start
    misses = aligner.misses
    start = time.perf_counter()
    aligner.align_topk_batch(*args)
    warm = time.perf_counter() - start
    return {
        "cold": cold,
        "warm": warm,
        "cache_misses": misses,
        "cache_hits": aligner.hits,
        "source_rows": int(ids.shape[0]),
        "target_rows": int(aligned.matched.numel()),
        "matched_rows": float(aligned.matched.float().mean()) if aligned.matched.numel() else 0.0,
        "coverage": aligner.vocab_map.coverage().to_dict(),
    }


def bench_align(
    model_a: str,
    model_b: str,
    *,
    task: str | None = None,
    n: int = 200,
    top_k: int = 128,
    max_length: int = 256,
    workers: int = -1,
    seed: int = 0,
) -> dict[str, Any]:
    """Time the vocabulary maps (empty cache) and cold/warm alignment of ``n`` samples, both ways.

    Returns a JSON-ready dict: ``samples``, ``top_k``, ``task``, and per-direction objects
    ``{"a_to_b": .., "b_to_a": ..}`` for ``vocab_map_seconds``, ``align_cold_seconds``,
    ``align_warm_seconds``, ``cache_hit_ms_per_sample`` (warm seconds per sample, in ms),
    ``coverage`` (vocabulary-map ``CoverageStats``), ``matched_rows`` (share of target answer
    positions that got a source row instead of the one-hot fallback) and ``rows`` (source and
    target answer positions).
    """
    task = task or default_task(model_a, model_b)
    public = public_samples(task, n)
    tok_a, tok_b = load_tokenizer(model_a), load_tokenizer(model_b)
    view_a = PublicView(tok_a, public, max_length)
    view_b = PublicView(tok_b, public, max_length)
    result: dict[str, Any] = {"model_a": model_a, "model_b": model_b, "task": task, "samples": len(public),
                              "top_k": top_k, "max_length": max_length}
    per: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="fedmkt-bench-") as tmp:
        for name, (src_tok, dst_tok, src, dst), offset in (
            ("a_to_b", (tok_a, tok_b, view_a, view_b), 0),
            ("b_to_a", (tok_b, tok_a, view_b, view_a), 1),
        ):
            start = time.perf_counter()
            aligner = Aligner.from_tokenizers(src_tok, dst_tok, cache_directory=Path(tmp), workers=workers)
            built = time.perf_counter() - start
            per[name] = {"vocab_map": built, **_direction(src, dst, aligner, top_k, seed + offset)}
    for key, field in (("vocab_map_seconds", "vocab_map"), ("align_cold_seconds", "cold"),
                       ("align_warm_seconds", "warm"), ("coverage", "coverage"), ("matched_rows", "matched_rows")):
        result[key] = {d: per[d][field] for d in per}
    result["cache_hit_ms_per_sample"] = {d: 1000 * per[d]["warm"] / len(public) for d in per}
    result["cache"] = {d: {"misses": per[d]["cache_misses"], "hits": per[d]["cache_hits"]} for d in per}
    result["rows"] = {d: {"source": per[d]["source_rows"], "target": per[d]["target_rows"]} for d in per}
    return result
