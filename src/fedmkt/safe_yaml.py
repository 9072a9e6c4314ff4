"""YAML from text we did not write, refused before it can expand: alias bombs, deep nesting.

``yaml.safe_load`` shares an aliased node by reference, so a few lines of nested anchors (each
level listing the previous one ten times) load instantly and stand for billions of values;
the blow-up comes later, when pydantic validates, an error message quotes the value, or the
resolved config is written out. :func:`load_yaml` therefore composes the node graph first
(aliases stay shared), measures what it would be with every alias expanded, without expanding
it, and only then builds Python objects. Nesting is bounded while composing, since PyYAML's
composer recurses once per level.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fedmkt.errors import FedMKTError, shown_text

MAX_YAML_NODES = 100_000
"""Values (scalars, lists, mappings) a document may stand for with every alias expanded;
a real config has a few hundred."""

MAX_YAML_CHARS = 4 << 20
"""Characters the document's scalars may add up to with every alias expanded (4 MiB)."""

MAX_YAML_DEPTH = 64
"""Nesting levels a document may have; a real config has five or six."""


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


class _DepthBoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that stops composing past :data:`MAX_YAML_DEPTH` levels (before Python's stack
    would) or past :data:`MAX_YAML_NODES` written-out values (a flood needs no aliases)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _TooDeep
            if self._composed > MAX_YAML_NODES:
                raise _TooMany
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def expanded_size(root: Node, source: str) -> tuple[int, int]:
    """(values, scalar characters) ``root`` stands for with every alias expanded, counted without expanding.

    Each distinct node is visited once (sizes are memoised by identity), so the cost follows the
    text, not the expansion. Counts stop growing just past the limits. An alias that refers to a
    node containing it (a cycle, which can never be expanded) is refused.
    """
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()  # started, not finished: the chain of ancestors of the current node
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            values, chars = 1, len(node.value) if isinstance(node, ScalarNode) else 0
            for child in _children(node):
                child_values, child_chars = sizes[id(child)]
                values, chars = values + child_values, chars + child_chars
            sizes[key] = (min(values, MAX_YAML_NODES + 1), min(chars, MAX_YAML_CHARS + 1))
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise FedMKTError(f"{source}: a YAML alias refers to a node that contains it, which can never "
                              "be expanded; expected anchors (&name) that only name finished values")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _reason(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, on one line (its own text spans several, with a snippet)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        context = f"{exc.context}, " if exc.context else ""
        return " ".join(f"{context}{exc.problem}{where}".split())
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def load_yaml(text: str, source: str) -> Any:
    """The one YAML document in ``text`` as Python objects (``None`` for an empty one), safely.

    Raises one-line `FedMKTError`s naming ``source`` for invalid YAML, more than one document,
    nesting past :data:`MAX_YAML_DEPTH`, and documents whose aliases would expand past
    :data:`MAX_YAML_NODES` values or :data:`MAX_YAML_CHARS` characters.
    """
    try:
        return _load(text, source)
    except _TooMany:
        raise FedMKTError(f"{source}: the YAML holds more than {MAX_YAML_NODES} values; expected an experiment "
                          "config (a few hundred values)") from None
    except _TooDeep:
        raise FedMKTError(f"{source}: YAML nested more than {MAX_YAML_DEPTH} levels deep; expected an experiment "
                          "config (a few levels)") from None
    except yaml.YAMLError as exc:
        raise FedMKTError(f"{source}: not valid YAML: {shown_text(_reason(exc))}") from exc
    except ValueError as exc:  # a scalar YAML accepts but Python cannot hold (an int of 5000 digits)
        raise FedMKTError(f"{source}: a YAML value cannot be read ({shown_text(str(exc))})") from exc


def _too_big(source: str, what: str) -> FedMKTError:
    return FedMKTError(f"{source}: with its aliases (*name) expanded the YAML stands for more than {what}; "
                       "expected an experiment config (a few hundred values)")


def _load(text: str, source: str) -> Any:
    loader = _DepthBoundedLoader(text)  # reads the whole text: unprintable characters fail here
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values, chars = expanded_size(node, source)
        if values > MAX_YAML_NODES or chars > MAX_YAML_CHARS:
            raise _too_big(source, f"{MAX_YAML_NODES} values" if values > MAX_YAML_NODES
                           else f"{MAX_YAML_CHARS >> 20} MiB of text")
        return loader.construct_document(node)
    finally:
        loader.dispose()
