"""``KEY=VALUE`` overrides from the command line, checked against the config's fields as a file's keys are."""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from fedmkt.config.experiment import ExperimentConfig
from fedmkt.errors import FedMKTError, shown, shown_text
from fedmkt.safe_yaml import load_yaml


@dataclass(frozen=True)
class Override:
    """``KEY=VALUE`` from the command line: a dotted path into an experiment and a YAML value.

    The path is checked against the config's fields when parsed (did-you-mean, as for a file's keys);
    the value is validated with the rest of the config, and an error there names the override.
    """

    text: str
    path: tuple[str | int, ...]
    value: Any

    def applied(self, data: dict, source: str) -> dict:
        """A copy of ``data`` with the value set at the path: missing sections are created, list items must exist."""
        out = copy.deepcopy(data)
        node: Any = out
        for i, part in enumerate(self.path[:-1]):
            child = node[part] if isinstance(part, int) else node.get(part)
            nxt = self.path[i + 1]
            if isinstance(nxt, int):
                if not isinstance(child, list) or not 0 <= nxt < len(child):
                    count = len(child) if isinstance(child, list) else 0
                    raise FedMKTError(f"override {shown(self.text)}: '{_dotted(self.path[:i + 1])}' has {count} "
                                      f"{'entry' if count == 1 else 'entries'} in {source}, so there is no item {nxt}")
            elif not isinstance(child, dict):  # a section the file leaves out (or writes as null)
                child = node[part] = {}
            node = child
        node[self.path[-1]] = self.value
        return out


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(map(str, path))


def _section(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The config section a field holds (a model, or a list of models: then True), or (None, False) for a value."""
    def model(candidate: Any) -> type[BaseModel] | None:
        return candidate if isinstance(candidate, type) and issubclass(candidate, BaseModel) else None

    for candidate in (annotation, *getattr(annotation, "__args__", ())):  # X, or X | None
        if getattr(candidate, "__origin__", None) is list:
            found = model(candidate.__args__[0])
            return (found, True) if found else (None, False)
        if model(candidate):
            return model(candidate), False
    return None, False


def _checked_path(text: str, parts: list[str]) -> tuple[str | int, ...]:
    """The override's key as a path into an experiment, refused in one line where no field is there."""
    path: list[str | int] = []
    target: type[BaseModel] | None = ExperimentConfig
    listed = False
    for part in parts:
        if listed:
            if not part.isdigit():
                raise FedMKTError(f"override {shown(text)}: '{_dotted(path)}' is a list; expected an item number "
                                  f"next, as in {_dotted(path)}.0.{part}")
            path.append(int(part))
            listed = False
            continue
        if target is None:
            raise FedMKTError(f"override {shown(text)}: '{_dotted(path)}' holds a value, not keys; set it whole, "
                              f"as in {_dotted(path)}=...")
        field = target.model_fields.get(part)
        if field is None:
            hint = difflib.get_close_matches(part, list(target.model_fields), n=1)
            extra = f" (did you mean '{_dotted([*path, hint[0]])}'?)" if hint else ""
            raise FedMKTError(f"override {shown(text)}: unknown key '{shown_text(_dotted([*path, part]))}'{extra}")
        path.append(part)
        target, listed = _section(field.annotation)
    return tuple(path)


def parse_override(text: str) -> Override:
    """``fedmkt.rounds=3`` -> Override(path=("fedmkt", "rounds"), value=3); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise FedMKTError(f"override {shown(text)}: expected KEY=VALUE with a dotted key, e.g. fedmkt.rounds=3 or "
                          f"clients.0.model=smollm2-135m")
    path = _checked_path(text, [p.strip() for p in parts])
    value = load_yaml(raw, f"override {shown(text)}") if raw.strip() else None
    if path[-1] in ("task", "model", "adapter") and isinstance(value, str) and value.startswith(("./", "../", "~")):
        value = os.path.abspath(os.path.expanduser(value))  # a path on the command line is from here
    return Override(text, path, value)


def parse_overrides(texts: Sequence[str]) -> list[Override]:
    return [parse_override(t) for t in texts]
