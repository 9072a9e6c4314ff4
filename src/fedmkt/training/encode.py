"""Examples to token ids with answer-only labels, the form every training loss reads.

Decisions (the same for SFT, KD and scoring, so positions line up everywhere):

- ``prompt + target`` is tokenized as one text, the way the model meets it at inference, and a
  token belongs to the answer when its character span reaches past the prompt (character
  offsets, so no tokenizer-specific boundary rules). The tokenizer's leading special tokens
  (e.g. ``<bos>``) come first.
- ``eos`` is appended after the answer and is labelled, so the model learns to stop.
- Labels are ``-100`` on special and prompt tokens (and, after batching, on padding); answer
  and ``eos`` tokens carry their own id. ``labels`` align with ``input_ids``: the logits at
  position ``i`` are scored against ``labels[i + 1]``.
- Too long: the prompt loses tokens from the LEFT (the question's end and the answer stay);
  an answer that alone does not fit is cut on the right, keeps one prompt token before it and
  gets no ``eos`` (it did not end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    """One example as ids; ``labels`` has the same length as ``input_ids``."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    index: int  # position in the list that was encoded (to look up per-example extras, e.g. KD targets)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def _leading_specials(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Special ids the tokenizer puts before ``text`` (``[bos]`` for Gemma/LLaMA, ``[]`` for GPT-2)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    special = set(tokenizer.all_special_ids)
    prefix = []
    for token in ids:
        if token not in special:
            break
        prefix.append(token)
    return prefix


def encode_example(
    tokenizer: PreTrainedTokenizerBase, example: Example, max_length: int, *, index: int = 0,
    add_eos: bool = True,
) -> EncodedExample:
    """Token ids and answer-only labels for ``example``, at most ``max_length`` tokens."""
    if not example.target:
        raise FedMKTError(f"example {example.uid!r}: target is empty; expected the answer text")
    prefix = _leading_specials(tokenizer, example.prompt)
    enc = tokenizer(example.prompt + example.target, add_special_tokens=False, return_offsets_mapping=True)
    boundary = len(example.prompt)
    split = next((i for i, (_, end) in enumerate(enc["offset_mapping"]) if end > boundary),
                 len(enc["input_ids"]))
    prompt, target = list(enc["input_ids"][:split]), list(enc["input_ids"][split:])
    eos = [tokenizer.eos_token_id] if add_eos and tokenizer.eos_token_id is not None else []
    budget = max_length - len(prefix)
    if len(target) + len(eos) > budget - 1:  # the answer alone does not fit: keep its start
        target, eos = target[: budget - 1], []
    if not target:
        raise FedMKTError(f"example {example.uid!r}: max_length {max_length} leaves no room for the answer")
    keep = budget - len(target) - len(eos)
    prompt = prompt[max(0, len(prompt) - keep):]
    if not prefix and not prompt:
        raise FedMKTError(f"example {example.uid!r}: prompt is empty; the first answer token needs context")
    context = prefix + prompt
    answer = target + eos
    return EncodedExample(
        input_ids=tuple(context + answer),
        labels=tuple([IGNORE_INDEX] * len(context) + answer),
        index=index,
    )


def encode_examples(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int, *, add_eos: bool = True
) -> list[EncodedExample]:
    """:func:`encode_example` over a list; ``index`` is each example's position in ``examples``."""
    return [encode_example(tokenizer, ex, max_length, index=i, add_eos=add_eos)
            for i, ex in enumerate(examples)]
