"""Token ids for scoring, cut the way lm-evaluation-harness cuts them.

lm-evaluation-harness scores a continuation by encoding ``context + continuation`` as one
string and splitting it where the context's own encoding ends, so the continuation is
tokenized as it would be in running text (" carbon" inside a sentence, not on its own).
It adds a BOS token only for models that expect one (Gemma), and moves trailing spaces
of the context onto the continuation.

We do the same with one change for tokenizers that merge across the boundary (the last
context token fuses with the first continuation characters): the shared context is the
longest prefix of the context's encoding that *every* ``context + choice`` encoding starts
with. When nothing merges this is exactly lm-evaluation-harness's split; when something
merges, every choice is still scored from the same context tokens (which prefix caching
needs) and every choice's tokens are a true piece of a whole-string encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from fedmkt.errors import FedMKTError


def prefix_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """``[bos]`` when the tokenizer adds a BOS token by default (Gemma), else ``[]`` (SmolLM2, GPT-2).

    Read from what the tokenizer does, not from a table of model names.
    """
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    ids = tokenizer("a")["input_ids"]
    return [bos] if ids and ids[0] == bos else []


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_context(context: list[int], longest_continuation: int, max_length: int | None, keep: int,
                uid: str = "?") -> list[int]:
    """``context`` cut from the left so ``context + continuation`` fits ``max_length`` tokens.

    As lm-evaluation-harness does: the end of the prompt (the question, next to the answer) is
    what conditions the answer most, so the oldest tokens go; the first ``keep`` ids (the BOS
    token) stay. ``max_length`` None: no limit.
    """
    if max_length is None or len(context) + longest_continuation <= max_length:
        return context
    room = max_length - longest_continuation - keep
    if room < 1:
        raise FedMKTError(f"example {uid}: its longest continuation ({longest_continuation} tokens) leaves no room "
                          f"for the prompt in the model's {max_length} positions")
    return context[:keep] + context[-room:]


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, *, max_length: int | None = None,
                  new_tokens: int = 0, uid: str = "?") -> list[int]:
    """Prompt ids for generation: the tokenizer's BOS policy plus the plain encoding.

    With ``max_length``, cut from the left (:func:`fit_context`) to leave ``new_tokens`` positions.
    """
    prefix = prefix_ids(tokenizer)
    return fit_context(prefix + _encode(tokenizer, prompt), new_tokens, max_length, len(prefix), uid)


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def encode_choices(
    tokenizer: PreTrainedTokenizerBase, prompt: str, choices: Sequence[str], *, uid: str = "?",
    max_length: int | None = None,
) -> tuple[list[int], list[list[int]]]:
    """Shared context ids and one id list per choice.

    ``context + choices[i]`` are the ids of ``prompt + choices[i]`` (after the BOS policy), so
    ``log P(choices[i] | prompt) = sum_t log P(choice_ids[i][t] | context, choice_ids[i][:t])``.
    With an empty context (no BOS and nothing shared) the context is ``[eos]``, as
    lm-evaluation-harness does, so the first choice token still has something to condition on.

    Raises:
        FedMKTError: a choice that adds no tokens (empty text), named by ``uid``.
    """
    stripped = prompt.rstrip()
    moved = prompt[len(stripped) :]  # trailing whitespace goes onto the continuation
    prefix = prefix_ids(tokenizer)
    context = prefix + _encode(tokenizer, stripped)
    wholes = [prefix + _encode(tokenizer, stripped + moved + choice) for choice in choices]
    shared = min([len(context)] + [_common_prefix_len(context, whole) for whole in wholes])
    context = context[:shared]
    conts = [whole[shared:] for whole in wholes]
    for i, cont in enumerate(conts):
        if not cont:
            raise FedMKTError(f"example {uid}: choice {i} ({choices[i]!r}) has no tokens after the prompt")
    if not context:
        fallback = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if fallback is None:
            raise FedMKTError(f"example {uid}: empty prompt and the tokenizer has neither BOS nor EOS")
        context = [fallback]
    keep = len(prefix) if context[: len(prefix)] == prefix else 0
    return fit_context(context, max(len(c) for c in conts), max_length, keep, uid), conts


def pad_batch(seqs: Sequence[Sequence[int]], *, left: bool) -> tuple[Tensor, Tensor]:
    """``(ids, attention_mask)``, both ``(len(seqs), longest)``, padded with id 0 on the chosen side.

    The pad id never matters: padded positions are masked and never read.
    """
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        cols = slice(width - len(s), width) if left else slice(0, len(s))
        ids[i, cols] = torch.tensor(list(s), dtype=torch.long)
        mask[i, cols] = 1
    return ids, mask
