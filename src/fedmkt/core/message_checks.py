"""Checks on receipt: a message from an untrusted sender is accepted only if every field fits.

:func:`receive` bounds the size before decoding (:func:`max_message_bytes`), decodes
(``fedmkt.core.messages.decode``) and validates (:func:`validate`): the sender, round, schema
version, vocabulary size and k that the receiver expects, exactly the public set's uids, and
per sample the row count, id range, finite non-negative probabilities with rows summing to at
most 1, and a finite NLL. Every failure is a ``MessageRejected`` with a one-line reason naming
the sender, the sample and the field, so one bad client never crashes the server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from fedmkt.core.messages import (
    MAX_SENDER_CHARS,
    ROW_SUM_TOLERANCE,
    SCHEMA_VERSION,
    DistributionMessage,
    MessageRejected,
    SampleDistributions,
    decode,
    message_nbytes,
    short_repr,
    wire_id_dtype,
)


def validate(
    message: DistributionMessage,
    *,
    expected_positions: Mapping[str, int],
    vocab_size: int,
    top_k: int,
    max_bytes: int | None = None,
    nbytes: int | None = None,
    sender: str | None = None,
    round: int | None = None,
    complete: bool = True,
) -> None:
    """Check ``message`` against what the receiver knows; raise :class:`MessageRejected` if bad.

    Args:
        expected_positions: uid -> number of scored positions of that public sample under the
            SENDER's tokenizer; its keys are the known uids.
        vocab_size: width of the sender's logits.
        top_k: the k agreed for the run (rows must have ``min(top_k, vocab_size)`` columns).
        max_bytes: reject a message larger than this (``nbytes``, or its re-encoded size).
        sender, round: when given, the sender name and round the message must carry.
        complete: every known uid must be present.
    """
    who = message.sender

    def reject(reason: str) -> MessageRejected:
        return MessageRejected(reason, who)

    if message.schema_version != SCHEMA_VERSION:
        raise reject(f"schema_version {message.schema_version!r}, expected {SCHEMA_VERSION}")
    if sender is not None and message.sender != sender:
        raise reject(f"sender {short_repr(message.sender)}, expected {short_repr(sender)}")
    if round is not None and message.round != round:
        raise reject(f"round {message.round}, expected {round}")
    if message.vocab_size != vocab_size or message.top_k != top_k:
        raise reject(
            f"vocab_size {message.vocab_size} / top_k {message.top_k}, expected {vocab_size} / {top_k}"
        )
    k = min(top_k, vocab_size)
    id_dtype = wire_id_dtype(vocab_size)
    seen: set[str] = set()
    for sample in message.samples:
        where = f"sample {short_repr(sample.uid)}"
        if not isinstance(sample.uid, str) or sample.uid not in expected_positions:
            raise reject(f"{where}: unknown uid")
        if sample.uid in seen:
            raise reject(f"{where}: duplicated uid")
        seen.add(sample.uid)
        problem = _sample_problem(sample, expected_positions[sample.uid], k, vocab_size, id_dtype)
        if problem:
            raise reject(f"{where}: {problem}")
    if complete and len(seen) < len(expected_positions):
        missing = [uid for uid in expected_positions if uid not in seen]
        raise reject(
            f"{len(missing)} of {len(expected_positions)} public samples missing "
            f"(first: {short_repr(missing[0])})"
        )
    if max_bytes is not None:  # after the per-sample checks, so re-encoding cannot fail
        size = message_nbytes(message) if nbytes is None else nbytes
        if size > max_bytes:
            raise reject(f"size {size} bytes exceeds the bound {max_bytes} for this public set")


def _sample_problem(
    sample: SampleDistributions, n_pos: int, k: int, vocab_size: int, id_dtype: np.dtype
) -> str:
    """What is wrong with one sample, or ``""``."""
    ids, probs = sample.token_ids, sample.probs
    if not isinstance(ids, np.ndarray) or ids.dtype != id_dtype:
        return f"token_ids dtype {getattr(ids, 'dtype', type(ids).__name__)}, expected {id_dtype}"
    if not isinstance(probs, np.ndarray) or probs.dtype != np.float16:
        return f"probs dtype {getattr(probs, 'dtype', type(probs).__name__)}, expected float16"
    if ids.shape != (n_pos, k):
        return f"token_ids shape {ids.shape}, expected ({n_pos}, {k}): one row per scored position (kd_positions)"
    if probs.shape != (n_pos, k):
        return f"probs shape {probs.shape}, expected ({n_pos}, {k})"
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        return f"token_ids range [{int(ids.min())}, {int(ids.max())}] outside [0, {vocab_size})"
    if not np.isfinite(probs).all():
        return "probs contain NaN or inf"
    if (probs < 0).any():
        return "probs contain negative values"
    sums = probs.astype(np.float32).sum(axis=1)
    if sums.size and (sums.min() <= 0 or sums.max() > 1 + ROW_SUM_TOLERANCE):
        return f"probs row sums in [{sums.min():.4g}, {sums.max():.4g}], expected (0, 1]"
    if (
        not isinstance(sample.nll, float | int | np.floating)
        or not math.isfinite(sample.nll)
        or sample.nll < 0
    ):
        return f"nll {sample.nll!r}, expected a finite number >= 0"
    return ""


def max_message_bytes(expected_positions: Mapping[str, int], top_k: int, vocab_size: int) -> int:
    """Generous upper bound on a valid message's size for this public set (twice the estimate).

    Anything larger is not what the public set allows and is rejected before decoding.
    """
    k = min(top_k, vocab_size)
    rows = sum(expected_positions.values())
    payload = rows * k * (wire_id_dtype(vocab_size).itemsize + 2) + 8 * len(expected_positions)
    header = 4096 + MAX_SENDER_CHARS * 6 + sum(6 * len(uid.encode()) + 4 for uid in expected_positions)
    return 2 * (payload + header)


def receive(
    data: bytes,
    *,
    expected_positions: Mapping[str, int],
    vocab_size: int,
    top_k: int,
    max_bytes: int | None = None,
    sender: str | None = None,
    round: int | None = None,
    complete: bool = True,
) -> DistributionMessage:
    """Size-check, decode and validate received bytes (the one call a runner needs).

    ``max_bytes`` defaults to :func:`max_message_bytes` of the public set; the size is checked
    before decoding so an oversized message costs nothing. Raises :class:`MessageRejected`.
    """
    if max_bytes is None:
        max_bytes = max_message_bytes(expected_positions, top_k, vocab_size)
    if isinstance(data, bytes | bytearray | memoryview) and len(data) > max_bytes:
        raise MessageRejected(
            f"size {len(data)} bytes exceeds the bound {max_bytes} for this public set", sender
        )
    message = decode(data)
    validate(
        message,
        expected_positions=expected_positions,
        vocab_size=vocab_size,
        top_k=top_k,
        sender=sender,
        round=round,
        complete=complete,
    )
    return message
