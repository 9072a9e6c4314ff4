"""On the real converted models: the fast scoring paths equal full-logit scoring."""

from __future__ import annotations

import pytest
import torch

from fedmkt.assets.registry import model_dir
from fedmkt.data.example import Example
from fedmkt.evaluation import evaluate
from fedmkt.evaluation.encoding import encode_choices
from fedmkt.evaluation.loglikelihood import cached_prefix_logprobs, full_sequence_logprobs

ARC_STYLE = [
    ("Which gas do plants absorb from the air?", (" carbon dioxide", " oxygen", " helium", " neon"), 0),
    ("What is the boiling point of water at sea level?", (" 0 degrees Celsius", " 50 degrees Celsius",
                                                         " 100 degrees Celsius", " 200 degrees Celsius"), 2),
    ("Which planet is closest to the Sun?", (" Venus", " Mercury", " Earth", " Mars"), 1),
    ("What force pulls objects toward Earth?", (" magnetism", " friction", " gravity", " electricity"), 2),
    ("Which organ pumps blood through the body?", (" the lungs", " the stomach", " the brain", " the heart"), 3),
    ("What do caterpillars turn into?", (" butterflies", " spiders", " worms", " beetles"), 0),
    ("Which state of matter has a fixed shape?", (" gas", " liquid", " solid", " plasma"), 2),
    ("What is the main source of energy for Earth?", (" the Moon", " the Sun", " volcanoes", " wind"), 1),
    ("Which tool is used to measure temperature?", (" a ruler", " a scale", " a thermometer", " a clock"), 2),
    ("What do bees collect from flowers?", (" nectar", " sand", " salt", " stones"), 0),
]


def _examples() -> list[Example]:
    return [Example(uid=f"arc_style/{i}", prompt=f"Question: {q}\nAnswer:", target=c[g], choices=c, gold=g)
            for i, (q, c, g) in enumerate(ARC_STYLE)]


def _load(name: str):
    folder = model_dir(name)
    if not (folder / "config.json").is_file():
        pytest.skip(f"{name} is not converted at {folder} (run `fedmkt assets fetch {name}`)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(folder)


@pytest.mark.real
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_fast_scoring_equals_full_logits(name):
    torch.set_num_threads(2)
    model, tokenizer = _load(name)
    examples = _examples()
    encoded = [encode_choices(tokenizer, ex.prompt, ex.choices) for ex in examples]
    contexts, conts = [c for c, _ in encoded], [cs for _, cs in encoded]
    dense = []
    with torch.inference_mode():
        for ctx, cs in encoded:
            row = []
            for cont in cs:
                logp = model(input_ids=torch.tensor([ctx + cont])).logits[0].float().log_softmax(-1)
                row.append(float(sum(logp[len(ctx) - 1 + t, tok] for t, tok in enumerate(cont))))
            dense.append(row)
    flat = torch.tensor(sum(dense, []))
    for fn in (cached_prefix_logprobs, full_sequence_logprobs):
        got = torch.tensor(sum(fn(model, contexts, conts, batch_size=4), []))
        torch.testing.assert_close(got, flat, rtol=0, atol=2e-3)
    result = evaluate(model, tokenizer, examples, batch_size=4)
    assert result.n == len(examples)
    # these are easy: a pretrained model must beat chance (25%) on them
    assert result.value > 25.0 and result.extra["acc_norm"] > 25.0
