"""Rouge-L scoring and greedy generation on a tiny model."""

from __future__ import annotations

import pytest
import torch
from eval_fixtures import memorize, tiny_model

from fedmkt.data.example import Example
from fedmkt.evaluation.generation import StopAfterText, cut_at_stop, generate_greedy, rouge_l, score_generation


def test_rouge_l_best_over_references_with_stemming():
    assert rouge_l("the cats sat", ["dogs run", "the cat sat"]) == pytest.approx(100.0)  # cats -> cat
    # LCS("a b", "a b c d") = 2: precision 1, recall 1/2, F = 2/3
    assert rouge_l("a b", ["a b c d"]) == pytest.approx(200.0 / 3.0)
    assert rouge_l("a b", ["x y", "a b c d"]) == pytest.approx(200.0 / 3.0)
    assert rouge_l("anything", []) == 0.0


def test_cut_at_stop():
    assert cut_at_stop(" honey\nQuestion: more", ["\n"]) == "honey"
    assert cut_at_stop(" a. b", [".", " b"]) == "a"
    assert cut_at_stop(" keep all ", []) == "keep all"
    assert cut_at_stop("\n The heart\nQuestion:", ["\n"]) == "The heart"  # a leading newline is formatting


def test_stop_criterion_waits_for_text_before_the_stop_string(tokenizer):
    prompt = tokenizer("Answer:", return_tensors="pt")["input_ids"]
    rows = ["\n", "\n honey", " honey\n", " honey\nQuestion"]
    crit = StopAfterText(tokenizer, prompt.shape[1], ["\n"])
    for text, expected in zip(rows, [False, False, True, True], strict=True):
        ids = torch.cat([prompt, tokenizer(text, return_tensors="pt")["input_ids"]], dim=1)
        assert crit(ids, None).tolist() == [expected], text


QA = [("Question: What do bees make?\nAnswer:", " honey"),
      ("Question: Which organ pumps blood?\nAnswer:", " the heart"),
      ("Question: What is frozen water called?\nAnswer:", " ice")]


@pytest.mark.parametrize(("kind", "sep"), [("llama", ""), ("gpt2", ""), ("llama", "\n")])
def test_memorized_answers_are_generated_and_stop_at_newline(kind, sep, tokenizer):
    # sep="\n": the model answers on the next line ("Answer:\n honey\n"), as small models often do
    texts = [p + sep + a + "\nQuestion:" for p, a in QA]
    model = memorize(tiny_model(kind, len(tokenizer)), tokenizer, texts, steps=80)
    examples = [Example(uid=str(i), prompt=p, target=a, references=(a.strip(), "something else"))
                for i, (p, a) in enumerate(QA)]
    for batch_size in (1, 3):  # left padding must not change greedy outputs
        scores = score_generation(model, tokenizer, examples, batch_size=batch_size, max_new_tokens=12)
        assert scores.predictions == [a.strip() for _, a in QA]
        assert scores.rouge_l == pytest.approx([100.0] * len(QA))


def test_greedy_outputs_grow_with_max_new_tokens(tokenizer):
    model = tiny_model("llama", len(tokenizer), seed=1)
    prompts = [p for p, _ in QA]
    seen: list[int] = []
    short = generate_greedy(model, tokenizer, prompts, max_new_tokens=3, stop=(), batch_size=2,
                            progress=seen.append)
    long = generate_greedy(model, tokenizer, prompts, max_new_tokens=9, stop=(), batch_size=2)
    assert seen == [2, 1]
    for s, lng in zip(short, long, strict=True):  # greedy: more tokens only extend the text
        assert lng.startswith(s)
