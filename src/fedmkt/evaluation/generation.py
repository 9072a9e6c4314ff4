"""Greedy generation scored with Rouge-L (``rouge_score``, stemming, F-measure, best reference, x100).

Decoding stops at EOS or at the first stop string (default a newline) that follows some
non-blank text: our prompts end with a cue such as ``"Answer:"`` or ``"Summary:"`` and every
gold answer is one line, so text after the answer's line is the model starting a new (made-up)
example, while a newline *before* any text is only formatting (small models often answer
``"Answer:\nThe heart"``). The stop string and what follows are cut from the prediction; pass
``stop=()`` to keep everything up to EOS or ``max_new_tokens``. (transformers' own
``stop_strings`` would stop on that leading newline, and preprocesses the whole vocabulary.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from rouge_score import rouge_scorer
from torch import nn
from transformers import GenerationConfig, PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

from fedmkt.data.example import Example
from fedmkt.evaluation.encoding import encode_prompt, pad_batch
from fedmkt.evaluation.loglikelihood import Progress


def rouge_l(
    prediction: str, references: Sequence[str], scorer: rouge_scorer.RougeScorer | None = None
) -> float:
    """Best Rouge-L F-measure of ``prediction`` over ``references``, times 100 (0 with no references)."""
    scorer = scorer or rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return 100.0 * max((scorer.score(ref, prediction)["rougeL"].fmeasure for ref in references), default=0.0)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` without leading whitespace, up to the earliest stop string, stripped."""
    text = text.lstrip()
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut].strip()


class StopAfterText(StoppingCriteria):
    """Marks a row finished once its generated text, leading whitespace removed, holds a stop string."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_len: int, stop: Sequence[str]) -> None:
        self.tokenizer, self.prompt_len, self.stop = tokenizer, prompt_len, tuple(stop)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        """``input_ids``: ``(batch, prompt_len + generated)``; returns ``(batch,)`` done flags."""
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len :], skip_special_tokens=True)
        done = [any(s in text.lstrip() for s in self.stop) for text in texts]
        return cast(torch.BoolTensor, torch.tensor(done, dtype=torch.bool, device=input_ids.device))


def _generation_config(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, max_new_tokens: int
) -> GenerationConfig:
    model_cfg = getattr(model, "generation_config", None)
    eos = getattr(model_cfg, "eos_token_id", None)
    eos = eos if eos is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = eos[0] if isinstance(eos, list) else eos
    if pad is None:
        pad = 0  # nothing to stop on and nothing to pad with: any id works, padding is masked
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=pad,
    )


@torch.inference_mode()
def generate_greedy(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    stop: Sequence[str] = ("\n",),
    progress: Progress | None = None,
    max_length: int | None = None,
) -> list[str]:
    """Greedy continuation of each prompt, in the order given.

    Prompts are sorted by length and left-padded in batches of ``batch_size`` so the last
    prompt token of every row sits in the same column, as ``model.generate`` expects.
    """
    device = next(model.parameters()).device
    config = _generation_config(model, tokenizer, max_new_tokens)
    encoded = [encode_prompt(tokenizer, p, max_length=max_length, new_tokens=max_new_tokens) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    out = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        ids, mask = pad_batch([encoded[i] for i in batch], left=True)  # (B, Lp)
        ids[mask == 0] = config.pad_token_id
        generated = model.generate(  # type: ignore[operator]  # nn.Module's __getattr__ hides generate()
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([StopAfterText(tokenizer, ids.shape[1], stop)] if stop else []),
        )  # (B, Lp + new)
        texts = tokenizer.batch_decode(generated[:, ids.shape[1] :], skip_special_tokens=True)
        for i, text in zip(batch, texts, strict=True):
            out[i] = cut_at_stop(text, stop)
        if progress is not None:
            progress(len(batch))
    return out


@dataclass(frozen=True)
class GenerationScores:
    """Per-example predictions and Rouge-L (0-100), in the order of the examples given."""

    predictions: list[str]
    rouge_l: list[float]


def score_generation(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 8,
    stop: Sequence[str] = ("\n",),
    progress: Progress | None = None,
    max_length: int | None = None,
) -> GenerationScores:
    """Generate for every example and score against its ``references`` (its ``target`` if none)."""
    predictions = generate_greedy(
        model, tokenizer, [ex.prompt for ex in examples],
        max_new_tokens=max_new_tokens, batch_size=batch_size, stop=stop, progress=progress,
        max_length=max_length,
    )
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scores = [
        rouge_l(pred, ex.references or (ex.target,), scorer)
        for pred, ex in zip(predictions, examples, strict=True)
    ]
    return GenerationScores(predictions=predictions, rouge_l=scores)
