"""The header of a message on the wire, read from untrusted bytes, and the one-line rejection.

A message's safetensors metadata holds a small JSON header (schema version, sender, round,
vocabulary size, k, uids; ``fedmkt.core.messages``). :func:`read_header` checks its framing and
every field's type before anything else is decoded; whatever fails is a :class:`MessageRejected`
whose reason is one line, with the untrusted values in it cut short (:func:`short_repr`).
"""

from __future__ import annotations

import json
import struct

from fedmkt.errors import FedMKTError

SCHEMA_VERSION = 1
HEADER_KEY = "fedmkt"
MAX_SENDER_CHARS = 256


class MessageRejected(FedMKTError):
    """A received message that fails decoding or validation; ``reason`` is one line."""

    def __init__(self, reason: str, sender: str | None = None) -> None:
        self.reason = reason
        self.sender = sender
        who = f"from {short_repr(sender)} " if sender is not None else ""
        super().__init__(f"message {who}rejected: {reason}")


def read_header(data: bytes) -> dict:
    """The JSON header from the safetensors metadata, with its fields type-checked."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MessageRejected(f"expected bytes, got {type(data).__name__}")
    if len(data) < 8:
        raise MessageRejected(f"truncated: {len(data)} bytes, a safetensors header needs at least 8")
    (size,) = struct.unpack("<Q", bytes(data[:8]))
    if size > len(data) - 8:
        raise MessageRejected(f"truncated: header claims {size} bytes, {len(data) - 8} follow")
    try:
        outer = json.loads(bytes(data[8 : 8 + size]))
        header = json.loads(outer["__metadata__"][HEADER_KEY])
    except Exception as error:  # noqa: BLE001 - untrusted bytes
        raise MessageRejected(f"undecodable header ({type(error).__name__}: {one_line(error)})") from None
    if not isinstance(header, dict):
        raise MessageRejected("header is not a JSON object")
    sender = header.get("sender")
    if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
        raise MessageRejected(f"header field sender must be a string of 1-{MAX_SENDER_CHARS} characters")
    version = header.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise MessageRejected(f"schema_version {version!r}, expected {SCHEMA_VERSION}", sender)
    for field in ("round", "vocab_size", "top_k"):
        if not isinstance(header.get(field), int) or isinstance(header.get(field), bool):
            raise MessageRejected(
                f"header field {field} must be an integer, got {header.get(field)!r}", sender
            )
    uids = header.get("uids")
    if not isinstance(uids, list) or not all(isinstance(uid, str) for uid in uids):
        raise MessageRejected("header field uids must be a list of strings", sender)
    return header


def short_repr(text: object, limit: int = 80) -> str:
    """``repr`` of an untrusted string, cut to ``limit`` characters so reasons stay one line."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def one_line(error: Exception, limit: int = 160) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
