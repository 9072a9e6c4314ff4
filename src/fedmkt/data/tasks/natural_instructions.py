"""Natural-Instructions v1 (61 subtasks) from the ``bigbench==1.0.0`` sdist: the offline stand-in for S-NI.

Files: ``benchmark_tasks/natural_instructions/subtask<NNN>_<name>/task.json``; each holds the
crowdsourcing instruction (``task_prefix``: definition, things to avoid, prompt) and
``examples`` with an ``input`` and a list of acceptable outputs (``target``).

Prompt: ``"{instruction}\\n\\nInput: {input}\\nOutput:"``; the SFT target is the first acceptable
output, and every acceptable output is a Rouge-L reference. ``group`` is the subtask name,
so a Dirichlet partition gives each client its own mix of subtasks.

The source has no train/test split. We assign each example to ``"test"`` when the hash of
its uid falls in the first tenth of the hash space (about 10% of each subtask, 19k items),
to ``"train"`` otherwise: fixed, independent of file order and of any run seed.
Examples without a non-empty output (one in subtask044) are dropped.
Instructions run up to ~3,000 characters and inputs to ~2,000: prompts are long, so a
training length cap truncates many of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fedmkt.assets.registry import bigbench_tasks_root
from fedmkt.data.example import Example
from fedmkt.data.tasks.base import Task, clean_references, require_path, stable_hash

TEST_FRACTION = 0.1


def ni_root() -> Path:
    return bigbench_tasks_root() / "natural_instructions"


def format_ni(instruction: str, text: str) -> str:
    """The NI prompt, ending right before the output."""
    return f"{instruction.strip()}\n\nInput: {text.strip()}\nOutput:"


def split_of(uid: str) -> str:
    """``"test"`` for a fixed ~10% of uids, ``"train"`` for the rest."""
    return "test" if int(stable_hash(uid), 16) < TEST_FRACTION * 16**16 else "train"


def load_subtask(path: Path) -> dict[str, list[Example]]:
    """The examples of one ``subtask*/task.json``, by split."""
    subtask = path.parent.name
    data = json.loads(path.read_bytes())
    instruction = data.get("task_prefix") or data.get("description") or ""
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for i, record in enumerate(data["examples"]):
        targets = record["target"]
        references = clean_references([targets] if isinstance(targets, str) else targets)
        if not references:
            continue
        uid = f"natural_instructions/{subtask}/{i}"
        out[split_of(uid)].append(
            Example(
                uid=uid,
                prompt=format_ni(instruction, record["input"]),
                target=" " + references[0],
                references=references,
                group=subtask,
            )
        )
    return out


def load_ni() -> dict[str, list[Example]]:
    """Both splits of all 61 subtasks in one pass over the files, subtask by subtask in name order.

    Parsing the 160 MB of JSON and building 193k examples takes about 3 s on 2 CPU cores,
    so the task parses once for both splits and keeps the result (no on-disk cache).
    """
    root = require_path(ni_root(), "bigbench", "Natural-Instructions v1 data")
    files = sorted(root.glob("subtask*/task.json"))
    if not files:
        require_path(root / "subtask001_quoref_question_generation", "bigbench", "NI subtask files")
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for path in files:
        for split, examples in load_subtask(path).items():
            out[split].extend(examples)
    return out


def _one_pass_loader() -> Callable[[str], list[Example]]:
    """A loader that parses the files on first use and serves both splits from that pass."""
    parsed: dict[str, list[Example]] = {}

    def load(split: str) -> list[Example]:
        if not parsed:
            parsed.update(load_ni())
        return parsed.pop(split)

    return load


def natural_instructions_task() -> Task:
    return Task(
        name="natural_instructions",
        kind="generation",
        metric="rougeL",
        description="Natural-Instructions v1: 61 instruction-following subtasks (stand-in for S-NI)",
        splits=("train", "test"),
        train_split="train",
        eval_split="test",
        requires="bigbench",
        source="bigbench==1.0.0 benchmark_tasks/natural_instructions",
        loader=_one_pass_loader(),
        data_path=ni_root,
    )
