"""The one exception type that the CLI turns into a one-line message instead of a traceback.

Messages often echo what the user wrote (a value, a key, a path). Hostile or mistaken input can
make that echo enormous (a YAML alias bomb expands to megabytes), so :func:`shown` shortens a
user value before it goes into a message, and `FedMKTError` itself cuts any message longer than
:data:`MAX_MESSAGE_CHARS` as a last defence: an error line is always short.
"""

from __future__ import annotations

import reprlib

MAX_VALUE_CHARS = 200
"""Longest echo of one user value in a message (:func:`shown`)."""

MAX_MESSAGE_CHARS = 2000
"""Longest message a `FedMKTError` keeps; the rest is replaced by a note of how much was cut."""

_REPR = reprlib.Repr()
_REPR.maxlevel = 3  # nested containers deeper than this show as [...] / {...}, so no full walk happens
_REPR.maxstring = MAX_VALUE_CHARS
_REPR.maxother = MAX_VALUE_CHARS
_REPR.maxlong = 60
for _attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_REPR, _attr, 8)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr(value)`` for an error message, at most about ``limit`` characters.

    Long strings and big or deeply nested containers are elided (``reprlib``), so echoing a
    value costs time and space bounded by ``limit``, never by the value's size.
    """
    return _cut(_REPR.repr(value), limit)


def shown_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A user string (a key, a path) quoted as-is in a message, cut to about ``limit`` characters."""
    return _cut(text, limit)


class FedMKTError(Exception):
    """A user-facing error: bad config, bad data file, unknown model, missing asset.

    The message must name the file or field and say what was expected; the CLI prints it
    on one line to stderr and exits non-zero (``--debug`` shows the traceback). A message
    longer than :data:`MAX_MESSAGE_CHARS` is cut there.
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE_CHARS:
            text = args[0]
            args = (f"{text[: MAX_MESSAGE_CHARS - 40]}... ({len(text) - MAX_MESSAGE_CHARS + 40} characters cut)",)
        super().__init__(*args)
