"""Where two resolved configs differ, key by key: for a resume's check and for ``fedmkt compare``.

Mappings are compared key by key and lists of mappings item by item (a suite's experiments by
name, so an added or dropped one is named once); anything else is one value. Paths are dotted
(``fedmkt.kd_weight``, ``clients.0.model``), in the config's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ABSENT: Any = object()
"""The value on the side that lacks the key."""

_SHOWN_CHARS = 40


@dataclass(frozen=True)
class Difference:
    """``path`` holds ``before`` on one side and ``after`` on the other; ``order``: same items, another order."""

    path: str
    before: Any
    after: Any
    order: bool = False


def shown_value(value: Any) -> str:
    """A value as JSON, cut to 40 characters; ``absent`` for a missing key."""
    text = "absent" if value is ABSENT else json.dumps(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _keyed(items: list, by_name: bool) -> dict[str, Any]:
    return {str(x["name"]) if by_name else str(i): x for i, x in enumerate(items)}


def _diff(before: Any, after: Any, path: str, out: list[Difference]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in dict.fromkeys([*before, *after]):
            _diff(before.get(key, ABSENT), after.get(key, ABSENT), f"{path}{key}.", out)
        return
    if isinstance(before, list) and isinstance(after, list) and all(isinstance(x, dict) for x in before + after):
        by_name = path == "experiments." and all(isinstance(x.get("name"), str) for x in before + after)
        old, new = _keyed(before, by_name), _keyed(after, by_name)
        for key in dict.fromkeys([*old, *new]):
            _diff(old.get(key, ABSENT), new.get(key, ABSENT), f"{path}{key}.", out)
        if by_name and set(old) == set(new) and list(old) != list(new):
            out.append(Difference(path.rstrip("."), list(old), list(new), order=True))
        return
    out.append(Difference(path.rstrip("."), before, after))


def differences(before: Any, after: Any, *, ignore: tuple[str, ...] = ()) -> list[Difference]:
    """Each place where two configs (plain data) differ; paths in ``ignore`` and below them are left out."""
    out: list[Difference] = []
    _diff(before, after, "", out)
    return [d for d in out if not any(d.path == p or d.path.startswith(p + ".") for p in ignore)]
