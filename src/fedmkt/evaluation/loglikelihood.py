"""Log-likelihood of continuations, with LM-head logits only where a continuation token is read.

Two exact ways to compute ``log P(continuation | context)`` for many (context, choices) groups:

- ``full_sequence_logprobs``: one right-padded sequence ``context + choice[:-1]`` per choice,
  as lm-evaluation-harness does; the decoder runs over the context once per choice.
- ``cached_prefix_logprobs``: the context runs once per example (left-padded batch); its
  key/value cache is repeated for each choice and only the choice tokens run on top of it.
  For four-choice questions with short answers this roughly halves the decoder work.

Both gather hidden states at the positions that predict a continuation token and apply the
LM head to those rows only (Gemma-3's head has 262,144 rows), in chunks, taking
``logit[target] - logsumexp(logits)`` in float32 instead of a full log-softmax.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn
from transformers import Cache

from fedmkt.errors import FedMKTError
from fedmkt.evaluation.encoding import pad_batch
from fedmkt.models.logits import decoder_and_head, head_logits, hidden_states

Progress = Callable[[int], None]


def target_logprob_sums(
    model: nn.Module, hidden: Tensor, targets: Tensor, rows: Tensor, n_rows: int, *, chunk: int = 256
) -> Tensor:
    """Sum of ``log P(target)`` per row, from hidden states at the predicting positions.

    Args:
        hidden: ``(n, hidden_size)`` final hidden states, one per continuation token.
        targets: ``(n,)`` the token each hidden state must predict.
        rows: ``(n,)`` which output row each token's log-probability is added to.
        n_rows: number of output rows.
        chunk: LM-head rows computed at once (bounds memory at ``chunk * vocab`` floats).

    Returns:
        ``(n_rows,)`` float64 sums of log-probabilities.
    """
    sums = torch.zeros(n_rows, dtype=torch.float64)
    for start in range(0, hidden.shape[0], chunk):
        logits = head_logits(model, hidden[start : start + chunk]).float()  # (c, vocab)
        tgt = targets[start : start + chunk].to(logits.device)
        logp = logits.gather(-1, tgt[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        sums.index_add_(0, rows[start : start + chunk], logp.double().cpu())
    return sums


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _cache_keyword(decoder: nn.Module) -> str:
    """The forward argument that takes a key/value cache: ``cache`` since transformers 5.25, before it
    ``past_key_values`` (still accepted there, with a deprecation warning on every call)."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _returned_cache(output: object) -> Cache | None:
    """The key/value cache a forward returned, under its new name (``cache``) or its old one."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def full_sequence_logprobs(
    model: nn.Module,
    contexts: Sequence[Sequence[int]],
    choices: Sequence[Sequence[Sequence[int]]],
    *,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> list[list[float]]:
    """``log P(choices[e][c] | contexts[e])`` with one full sequence per choice.

    Args:
        contexts: per example, the context ids (non-empty).
        choices: per example, one non-empty id list per choice.
        batch_size: examples per forward pass (each brings all its choices).
        progress: called with the number of examples finished after each batch.

    Returns:
        Per example, one summed log-probability per choice.
    """
    device = _device(model)
    seq_len = {e: max(len(contexts[e]) + len(ch) for ch in choices[e]) for e in range(len(contexts))}
    order = sorted(range(len(contexts)), key=lambda e: -seq_len[e])
    out: list[list[float]] = [[0.0] * len(choices[e]) for e in range(len(contexts))]
    for batch in _batches(order, batch_size):
        pairs = [(e, c) for e in batch for c in range(len(choices[e]))]
        seqs = [list(contexts[e]) + list(choices[e][c]) for e, c in pairs]
        ids, mask = pad_batch([s[:-1] for s in seqs], left=False)  # (R, L); the last token predicts nothing
        positions = torch.zeros_like(ids, dtype=torch.bool)
        targets = torch.zeros_like(ids)
        for r, (e, c) in enumerate(pairs):
            start, end = len(contexts[e]) - 1, len(seqs[r]) - 1
            positions[r, start:end] = True
            targets[r, start:end] = torch.tensor(choices[e][c], dtype=torch.long)
        hidden = hidden_states(model, ids.to(device), mask.to(device))  # (R, L, H)
        rows = torch.arange(len(pairs))[:, None].expand_as(ids)[positions]
        sums = target_logprob_sums(model, hidden[positions.to(device)], targets[positions], rows, len(pairs))
        for r, (e, c) in enumerate(pairs):
            out[e][c] = float(sums[r])
        if progress is not None:
            progress(len(batch))
    return out


@torch.inference_mode()
def cached_prefix_logprobs(
    model: nn.Module,
    contexts: Sequence[Sequence[int]],
    choices: Sequence[Sequence[Sequence[int]]],
    *,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> list[list[float]]:
    """Same result as ``full_sequence_logprobs``, running each context once.

    Contexts are left-padded with explicit position ids (``0..len-1`` for real tokens), so every
    row's last context token sits in the last column and sliding-window layers see the same
    token distances as without padding. The cache is then indexed by example for each choice
    row, and the right-padded choice tokens run on top with positions continuing from the
    context length.
    """
    device = _device(model)
    decoder, _ = decoder_and_head(model)
    order = sorted(range(len(contexts)), key=lambda e: -len(contexts[e]))
    out: list[list[float]] = [[] for _ in contexts]
    for batch in _batches(order, batch_size):
        ctx_ids, ctx_mask = pad_batch([contexts[e] for e in batch], left=True)  # (B, Lp)
        ctx_pos = (ctx_mask.cumsum(-1) - 1).clamp(min=0)
        prompt = decoder(
            input_ids=ctx_ids.to(device),
            attention_mask=ctx_mask.to(device),
            position_ids=ctx_pos.to(device),
            use_cache=True,
        )
        last = prompt.last_hidden_state[:, -1]  # (B, H): predicts each choice's first token
        example = torch.tensor([b for b, e in enumerate(batch) for _ in choices[e]])  # (R,)
        conts = [list(ch) for e in batch for ch in choices[e]]
        lengths = torch.tensor([len(c) for c in conts])  # (R,)
        cont_ids, _ = pad_batch(conts, left=False)  # (R, Lc)
        hidden = [last[example.to(device)]]
        targets = [cont_ids[:, 0]]
        token_rows = [torch.arange(len(conts))]
        if cont_ids.shape[1] > 1:  # tokens 0..L-2 of each choice predict tokens 1..L-1
            inp = cont_ids[:, :-1]
            inp_mask = (torch.arange(inp.shape[1])[None, :] < (lengths[:, None] - 1)).long()
            cache = _returned_cache(prompt)
            if cache is None:
                raise FedMKTError(
                    f"model {type(model).__name__} returned no key/value cache; score with prefix_cache=False"
                )
            cache.reorder_cache(cast(torch.LongTensor, example.to(device)))
            ctx_len = ctx_mask.sum(-1)[example]  # (R,)
            # padding columns repeat the row's last real position: ctx_len + arange would run past the
            # model's window when a long prompt shares the batch with another example's long choice
            offsets = torch.minimum(torch.arange(inp.shape[1])[None, :], (lengths[:, None] - 2).clamp(min=0))
            step = decoder(
                input_ids=inp.to(device),
                attention_mask=torch.cat([ctx_mask[example], inp_mask], dim=1).to(device),
                position_ids=(ctx_len[:, None] + offsets).to(device),
                **{_cache_keyword(decoder): cache},
                use_cache=True,
            )
            keep = inp_mask.bool()
            hidden.append(step.last_hidden_state[keep.to(device)])
            targets.append(cont_ids[:, 1:][keep])
            token_rows.append(torch.arange(len(conts))[:, None].expand_as(inp)[keep])
        sums = target_logprob_sums(
            model, torch.cat(hidden), torch.cat(targets), torch.cat(token_rows), len(conts)
        )
        r = 0
        for e in batch:
            out[e] = [float(s) for s in sums[r : r + len(choices[e])]]
            r += len(choices[e])
        if progress is not None:
            progress(len(batch))
    return out
