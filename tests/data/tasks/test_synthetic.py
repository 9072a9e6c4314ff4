"""tiny_qa and tiny_gen: deterministic per seed, well formed, and with a signal that training can find."""

from __future__ import annotations

from collections import Counter, defaultdict

from fedmkt.data.tasks import get_task
from fedmkt.data.tasks.synthetic import make_tiny_gen, make_tiny_qa, make_world


def test_tiny_qa_is_a_pure_function_of_seed_split_and_size():
    assert make_tiny_qa(0, "train", 50) == make_tiny_qa(0, "train", 50)
    assert make_tiny_qa(0, "train", 50) != make_tiny_qa(1, "train", 50)
    assert make_tiny_qa(0, "train", 50) != make_tiny_qa(0, "test", 50)
    assert make_world(3) == make_world(3) and make_world(3) != make_world(4)


def test_tiny_qa_records_are_well_formed():
    task = get_task("tiny_qa")
    assert (task.kind, task.metric, task.requires) == ("multiple_choice", "acc", "none")
    train, test = task.load("train"), task.load("test")
    assert (len(train), len(test)) == (400, 200)
    assert len({e.uid for e in train + test}) == 600
    for e in train + test:
        assert e.prompt.startswith("Question: ") and e.prompt.endswith("\nAnswer:")
        assert len(e.choices) == 4 and len(set(e.choices)) == 4
        assert all(c.startswith(" ") and c.strip() for c in e.choices)
        assert e.target == e.choices[e.gold]
        assert e.references == ()
    assert Counter(e.group for e in train) == {"color": 100, "home": 100, "sum": 100, "password": 100}
    assert len(Counter(e.gold for e in train)) == 4  # the gold position is not a giveaway


def test_tiny_qa_test_questions_are_answerable_from_train():
    """The learnable signal: a lookup table built on train beats the 25% chance level on test."""
    train, test = make_tiny_qa(0, "train", 400), make_tiny_qa(0, "test", 200)
    seen: dict[str, Counter] = defaultdict(Counter)
    for e in train:
        seen[e.prompt][e.target] += 1
    correct = 0
    for e in test:
        known = seen.get(e.prompt)
        if known is not None:
            guess = max(e.choices, key=lambda c: known[c])
        elif "password is" in e.prompt:  # copy the word the question states
            word = e.prompt.split("password is ")[1].split(".")[0]
            guess = " " + word
        else:
            guess = e.choices[0]
        correct += guess == e.target
    assert correct / len(test) > 0.9


def test_tiny_gen_is_deterministic_and_its_outputs_follow_the_instruction():
    assert make_tiny_gen(0, "train", 30) == make_tiny_gen(0, "train", 30)
    assert make_tiny_gen(0, "train", 30) != make_tiny_gen(5, "train", 30)
    task = get_task("tiny_gen")
    assert (task.kind, task.metric) == ("generation", "rougeL")
    for e in task.load("train") + task.load("test"):
        instruction, rest = e.prompt.split(": ", 1)
        words = rest.removesuffix("\nOutput:").split()
        expected = {
            "Repeat the words": words,
            "Reverse the words": words[::-1],
            "Say the last word": words[-1:],
        }
        assert e.references == (" ".join(expected[instruction]),)
        assert e.target == " " + e.references[0]
        assert e.choices == () and e.gold is None
