"""Two asset-free tasks generated from a seed, for the ``tiny`` preset and the tests.

``tiny_qa`` (multiple choice, 4 choices): questions about a small made-up world that the
seed draws once per task (which creature has which colour and home), plus small sums and a
"password" to copy from the question. Train and test share the world, so a tiny model that
memorises facts or learns to copy gets better than the 25% chance level; ``group`` is the
question family.

``tiny_gen`` (generation, Rouge-L): copy or reverse a short list of words, or name its last
word; ``group`` is the operation.

Both are pure functions of ``(seed, split, size)``: the same arguments give the same records.
"""

from __future__ import annotations

import numpy as np

from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task

COLORS = ("red", "blue", "green", "yellow", "purple", "orange")
PLACES = ("forest", "river", "desert", "mountain", "city", "island")
WORDS = ("cat", "dog", "fox", "owl", "bee", "cow", "pig", "hen", "ant", "elk", "yak", "emu")
SYLLABLES = ("ba", "ko", "mi", "ru", "te", "zo", "la", "fe", "ni", "po")
N_CREATURES = 8
QA_FAMILIES = ("color", "home", "sum", "password")
GEN_FAMILIES = ("copy", "reverse", "last")
SIZES = {"train": 400, "test": 200}
_SPLIT_STREAM = {"train": 1, "test": 2}


def make_world(seed: int) -> dict[str, tuple[str, str]]:
    """``creature -> (colour, home)``, drawn once from ``seed`` and shared by all splits."""
    rng = np.random.default_rng([seed, 0])
    names: list[str] = []
    while len(names) < N_CREATURES:
        name = "".join(rng.choice(SYLLABLES, size=2))
        if name not in names:
            names.append(name)
    return {n: (str(rng.choice(COLORS)), str(rng.choice(PLACES))) for n in names}


def _mc(rng: np.random.Generator, gold: str, options: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """Gold plus three other options, shuffled; returns continuations and the gold index."""
    others = [o for o in options if o != gold]
    picked = [gold, *rng.choice(others, size=3, replace=False).tolist()]
    order = rng.permutation(4)
    choices = tuple(" " + picked[i] for i in order)
    return choices, int(np.flatnonzero(order == 0)[0])


def _qa_item(
    rng: np.random.Generator, world: dict[str, tuple[str, str]], family: str
) -> tuple[str, str, tuple[str, ...]]:
    name = str(rng.choice(list(world)))
    if family == "color":
        return f"What color is the {name}?", world[name][0], COLORS
    if family == "home":
        return f"Where does the {name} live?", world[name][1], PLACES
    if family == "sum":
        a, b = (int(x) for x in rng.integers(0, 5, size=2))
        return f"What is {a} plus {b}?", str(a + b), tuple(str(i) for i in range(9))
    word = str(rng.choice(WORDS))
    return f"The password is {word}. What is the password?", word, WORDS


def make_tiny_qa(seed: int, split: str, size: int) -> list[Example]:
    """``size`` multiple-choice questions; families cycle so each has a quarter."""
    world = make_world(seed)
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
    examples = []
    for i in range(size):
        family = QA_FAMILIES[i % len(QA_FAMILIES)]
        question, answer, options = _qa_item(rng, world, family)
        choices, gold = _mc(rng, answer, options)
        examples.append(
            Example(
                uid=f"tiny_qa/{split}/{i:05d}",
                prompt=f"Question: {question}\nAnswer:",
                target=choices[gold],
                choices=choices,
                gold=gold,
                group=family,
            )
        )
    return examples


def make_tiny_gen(seed: int, split: str, size: int) -> list[Example]:
    """``size`` word-manipulation prompts with their one correct output."""
    rng = np.random.default_rng([seed, 10 + _SPLIT_STREAM[split]])
    examples = []
    for i in range(size):
        family = GEN_FAMILIES[i % len(GEN_FAMILIES)]
        words = rng.choice(WORDS, size=int(rng.integers(2, 5)), replace=False).tolist()
        if family == "copy":
            instruction, output = "Repeat the words", words
        elif family == "reverse":
            instruction, output = "Reverse the words", words[::-1]
        else:
            instruction, output = "Say the last word", words[-1:]
        answer = " ".join(output)
        examples.append(
            Example(
                uid=f"tiny_gen/{split}/{i:05d}",
                prompt=f"{instruction}: {' '.join(words)}\nOutput:",
                target=" " + answer,
                references=(answer,),
                group=family,
            )
        )
    return examples


def tiny_qa_task(seed: int = 0) -> Task:
    return Task(
        name="tiny_qa",
        kind="multiple_choice",
        metric="acc",
        description="Synthetic 4-way QA about a seeded toy world (no assets; tests and the tiny preset)",
        splits=tuple(SIZES),
        train_split="train",
        eval_split="test",
        requires="none",
        source=f"synthetic (seed {seed})",
        loader=lambda split: make_tiny_qa(seed, split, SIZES[split]),
    )


def tiny_gen_task(seed: int = 0) -> Task:
    return Task(
        name="tiny_gen",
        kind="generation",
        metric="rougeL",
        description="Synthetic copy / reverse / last-word generation (no assets; scored by Rouge-L)",
        splits=tuple(SIZES),
        train_split="train",
        eval_split="test",
        requires="none",
        source=f"synthetic (seed {seed})",
        loader=lambda split: make_tiny_gen(seed, split, SIZES[split]),
    )
