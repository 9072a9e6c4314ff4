"""Tasks of the paper that only the Hugging Face hub has: WiC, DialogSum, Super-NaturalInstructions.

They load with ``datasets.load_dataset`` (and from the local datasets cache once fetched);
offline, or without a connection, they fail with one line naming the dataset they tried.
No package on PyPI ships them (see ASSETS.md); the offline stand-ins are ``rte``/``boolq``,
``xsum`` and ``natural_instructions``.
"""

from __future__ import annotations

from typing import Any

from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, clean_references
from fedmkt.data.tasks.natural_instructions import format_ni
from fedmkt.errors import FedMKTError

WIC_HUB = ("aps/super_glue", "wic")
DIALOGSUM_HUB = ("knkarthick/dialogsum", None)
SNI_HUB = ("Muennighoff/natural-instructions", None)
SNI_MAX_PER_TASK = 100  # instances per S-NI task, as in the S-NI paper's training setup
WIC_CHOICES = (" no", " yes")


def load_hub_split(task: str, path: str, config: str | None, split: str) -> Any:
    """``datasets.load_dataset(path, config, split=split)``, or a one-line FedMKTError offline."""
    from datasets import load_dataset  # heavy import, only when a hub task is used

    call = f"load_dataset({path!r}" + (f", {config!r}" if config else "") + f", split={split!r})"
    try:
        return load_dataset(path, config, split=split)
    except ConnectionError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FedMKTError(
            f"task {task!r} needs the Hugging Face hub (not packaged offline): {call} failed: {reason}"
        ) from None
    except FileNotFoundError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FedMKTError(f"task {task!r}: {call} found no such dataset on the hub: {reason}") from None


def wic_example(row: dict[str, Any], split: str) -> Example:
    """One WiC row in lm-evaluation-harness form; label 1 means the same sense (" yes")."""
    s1, s2 = row["sentence1"], row["sentence2"]
    word = s1[row["start1"] : row["end1"]] if "start1" in row else row["word"]
    prompt = (
        f"Sentence 1: {s1}\nSentence 2: {s2}\n"
        f"Question: Is the word '{word}' used in the same way in the two sentences above?\nAnswer:"
    )
    gold = int(row["label"])
    return Example(
        uid=f"wic/{split}/{row['idx']}",
        prompt=prompt,
        target=WIC_CHOICES[gold],
        choices=WIC_CHOICES,
        gold=gold,
        group=WIC_CHOICES[gold].strip(),
    )


def load_wic(split: str) -> list[Example]:
    return [
        wic_example(row, split) for row in load_hub_split("wic", *WIC_HUB, split) if int(row["label"]) >= 0
    ]


def _summaries(row: dict[str, Any]) -> list[str]:
    return [row[k] for k in sorted(row) if k.startswith("summary") and row[k]]


def dialogsum_example(row: dict[str, Any], split: str, more_summaries: tuple[str, ...] = ()) -> Example:
    """One dialogue; every ``summary*`` column and ``more_summaries`` are references."""
    references = clean_references([*_summaries(row), *more_summaries])
    if not references:
        raise FedMKTError(f"dialogsum {split} row {row.get('id')}: no summary")
    return Example(
        uid=f"dialogsum/{split}/{row['id']}",
        prompt=f"Summarize the following dialogue.\n\n{row['dialogue'].strip()}\nSummary:",
        target=" " + references[0],
        references=references,
        group=str(row.get("topic") or "").strip().lower(),
    )


def load_dialogsum(split: str) -> list[Example]:
    """One example per dialogue: rows repeating a dialogue (one per annotator) pool their summaries."""
    first_row: dict[str, dict[str, Any]] = {}
    more: dict[str, list[str]] = {}
    for row in load_hub_split("dialogsum", *DIALOGSUM_HUB, split):
        key = row["dialogue"].strip()
        if key in first_row:
            more[key].extend(_summaries(row))
        else:
            first_row[key], more[key] = row, []
    return [dialogsum_example(row, split, tuple(more[key])) for key, row in first_row.items()]


def load_sni(split: str, max_per_task: int | None = SNI_MAX_PER_TASK) -> list[Example]:
    """S-NI rows, the first ``max_per_task`` of each task in dataset order."""
    data = load_hub_split("super_natural_instructions", *SNI_HUB, split)
    if max_per_task is not None:
        counts: dict[str, int] = {}
        keep: list[int] = []
        for i, name in enumerate(data["task_name"]):
            if counts.get(name, 0) < max_per_task:
                counts[name] = counts.get(name, 0) + 1
                keep.append(i)
        data = data.select(keep)
    examples = []
    for row in data:
        references = clean_references([row["targets"]] if isinstance(row["targets"], str) else row["targets"])
        if not references:
            continue
        examples.append(
            Example(
                uid=f"super_natural_instructions/{split}/{row['id']}",
                prompt=format_ni(row["definition"], row["inputs"]),
                target=" " + references[0],
                references=references,
                group=row["task_name"],
            )
        )
    return examples


def wic_task() -> Task:
    return Task(
        name="wic",
        kind="multiple_choice",
        metric="acc",
        description="WiC word-in-context sense disambiguation (SuperGLUE; needs the HF hub)",
        splits=("train", "validation"),
        train_split="train",
        eval_split="validation",
        requires="hub",
        source="hub:aps/super_glue (wic)",
        loader=load_wic,
    )


def dialogsum_task() -> Task:
    return Task(
        name="dialogsum",
        kind="generation",
        metric="rougeL",
        description="DialogSum dialogue summarization (needs the HF hub; offline stand-in: xsum)",
        splits=("train", "validation", "test"),
        train_split="train",
        eval_split="test",
        requires="hub",
        source="hub:knkarthick/dialogsum",
        loader=load_dialogsum,
    )


def sni_task(max_per_task: int | None = SNI_MAX_PER_TASK) -> Task:
    return Task(
        name="super_natural_instructions",
        kind="generation",
        metric="rougeL",
        description="Super-NaturalInstructions v2 (needs the HF hub; offline stand-in: natural_instructions)",
        splits=("train", "validation", "test"),
        train_split="train",
        eval_split="test",
        requires="hub",
        source="hub:Muennighoff/natural-instructions",
        loader=lambda split: load_sni(split, max_per_task),
    )
