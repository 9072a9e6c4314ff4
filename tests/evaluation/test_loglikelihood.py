"""Sparse (continuation-only LM head, cached prefix) log-likelihoods equal dense full-logit ones."""

from __future__ import annotations

import pytest
import torch
from eval_fixtures import mc_examples, tiny_model

from fedmkt.evaluation.encoding import encode_choices
from fedmkt.evaluation.loglikelihood import cached_prefix_logprobs, full_sequence_logprobs


def dense_reference(model, context: list[int], cont: list[int]) -> float:
    """log P(cont | context) from the model's own full logits over one unpadded sequence."""
    ids = torch.tensor([context + cont])
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].float().log_softmax(-1)  # (L, vocab)
    start = len(context) - 1
    return float(sum(logp[start + t, tok] for t, tok in enumerate(cont)))


def _requests(tokenizer, extra_context: int = 0):
    contexts, conts = [], []
    for i, ex in enumerate(mc_examples()):
        # vary the prompt length so batches mix lengths (and overflow the 4-token sliding window)
        prompt = "the cat sat on the mat. " * ((i + extra_context) % 3) + ex.prompt
        ctx, cs = encode_choices(tokenizer, prompt, ex.choices)
        contexts.append(ctx)
        conts.append(cs)
    return contexts, conts


@pytest.mark.parametrize("kind", ["llama", "gpt2", "gemma3"])
def test_sparse_paths_equal_dense_reference_at_any_batch_size(kind, tokenizer):
    model = tiny_model(kind, len(tokenizer))
    contexts, conts = _requests(tokenizer)
    pairs = zip(contexts, conts, strict=True)
    reference = [[dense_reference(model, ctx, c) for c in cs] for ctx, cs in pairs]
    results = {
        (name, bs): fn(model, contexts, conts, batch_size=bs)
        for name, fn in [("full", full_sequence_logprobs), ("cached", cached_prefix_logprobs)]
        for bs in (1, 7, 3)
    }
    for key, got in results.items():
        assert [len(r) for r in got] == [len(r) for r in reference], key
        torch.testing.assert_close(
            torch.tensor([x for r in got for x in r]),
            torch.tensor([x for r in reference for x in r]),
            rtol=0, atol=1e-4, msg=lambda m, key=key: f"{key}: {m}",
        )
    for name in ("full", "cached"):  # padding must not change scores: batch 1 vs 7 agree to float noise
        torch.testing.assert_close(
            torch.tensor(sum(results[(name, 1)], [])), torch.tensor(sum(results[(name, 7)], [])),
            rtol=0, atol=1e-5,
        )


def test_single_token_choices_skip_the_continuation_pass(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    ctx, _ = encode_choices(tokenizer, "Question: What do bees make?\nAnswer:", [" a"])
    conts = [[[tokenizer.convert_tokens_to_ids("Ġa")], [tokenizer.convert_tokens_to_ids("Ġthe")]]]
    got = cached_prefix_logprobs(model, [ctx], conts)[0]
    assert got == pytest.approx([dense_reference(model, ctx, c) for c in conts[0]], abs=1e-5)


def test_progress_reports_every_example(tokenizer):
    model = tiny_model("gpt2", len(tokenizer))
    contexts, conts = _requests(tokenizer)
    for fn in (full_sequence_logprobs, cached_prefix_logprobs):
        seen: list[int] = []
        fn(model, contexts, conts, batch_size=3, progress=seen.append)
        assert seen == [3, 3, 1]


def test_a_batch_wider_than_the_context_window_scores_each_example_as_alone():
    """A long prompt batched with a long answer of another example: padding must not need positions past
    the model's window (learned position embeddings index out of range), and scores equal one at a time."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=32, n_embd=32, n_layer=2, n_head=2, bos_token_id=1, eos_token_id=2)
    model = GPT2LMHeadModel(config).eval()
    contexts = [list(range(3, 31)), [5, 6]]  # 28 + 2 and 2 + 24 tokens: each fits 32, together 28 + 24 do not
    conts = [[[7, 8], [9]], [list(range(10, 34)), [11, 12]]]
    alone = [cached_prefix_logprobs(model, [ctx], [cs])[0] for ctx, cs in zip(contexts, conts, strict=True)]
    reference = [[dense_reference(model, ctx, c) for c in cs] for ctx, cs in zip(contexts, conts, strict=True)]
    for fn in (cached_prefix_logprobs, full_sequence_logprobs):
        got = fn(model, contexts, conts, batch_size=2)
        assert got == [pytest.approx(r, abs=1e-4) for r in reference], fn.__name__
    assert alone == [pytest.approx(r, abs=1e-4) for r in reference]
