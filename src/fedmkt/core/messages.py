"""The one message that travels between a client and the server: its fields and its encoding.

Paper section 3.2 (workflow steps 2 and 6: "upload / disseminate output logits and the
corresponding cross-entropy losses on the public dataset") and 3.3 (communication cost).

What travels, per public sample, and nothing else:

- ``token_ids`` ``(n_pos, k)``: the sender's top-k ids at each scored position, in the smallest
  integer type that holds the sender's vocabulary (:func:`wire_id_dtype`);
- ``probs`` ``(n_pos, k)`` float16: their probabilities under the full softmax (a row sums to
  the top-k mass, at most 1; see ``fedmkt.core.topk``);
- ``nll``: the sample's total NLL of the gold answer (fp32 on the wire; ``fedmkt.core.selection``).

Scored positions travel as a count only (the rows of ``token_ids``): they are the sender's
answer positions for that sample, in order, and the receiver already has the public set and
the sender's tokenizer (it needs both to align tokens anyway). Input ids, labels, masks and
padding never travel.

Encoding: safetensors bytes holding four flat tensors (all samples' rows concatenated, plus
per-sample ``n_positions`` and ``nll``) and a small JSON header in the safetensors metadata
(schema version, sender, round, vocabulary size, k, uids; read by ``fedmkt.core.message_header``).
:func:`decode` turns any bytes into a message or a :class:`MessageRejected` with a one-line reason,
never another exception;
``fedmkt.core.message_checks.receive`` bounds the size and checks every field against what the
receiver expects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import safetensors.numpy
import torch
from torch import Tensor

from fedmkt.core.message_header import HEADER_KEY, MessageRejected, one_line, read_header, short_repr
from fedmkt.core.message_header import MAX_SENDER_CHARS as MAX_SENDER_CHARS  # the header's names, importable here
from fedmkt.core.message_header import SCHEMA_VERSION as SCHEMA_VERSION
from fedmkt.errors import FedMKTError

ROW_SUM_TOLERANCE = 1e-2  # fp16 rounding of up to k probabilities can push a row's sum a little over 1
_TENSORS = ("token_ids", "probs", "n_positions", "nll")


def wire_id_dtype(vocab_size: int) -> np.dtype:
    """Smallest integer dtype for ids ``0 .. vocab_size - 1``: uint8, uint16 or int32.

    torch lacks most ops on uint16, so ids travel as numpy/safetensors arrays and become
    int64 tensors on receipt (:meth:`SampleDistributions.ids_tensor`).
    """
    if vocab_size < 1 or vocab_size > 2**31:
        raise FedMKTError(f"vocab_size must be in [1, 2**31], got {vocab_size}")
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


@dataclass(frozen=True, eq=False)
class SampleDistributions:
    """One public sample's top-k rows and answer NLL.

    Attributes:
        uid: the public sample's uid (``Example.uid``).
        token_ids: ``(n_pos, k)`` ``wire_id_dtype(vocab_size)`` ids.
        probs: ``(n_pos, k)`` float16 probabilities.
        nll: total NLL (nats) of the gold answer given the prompt.
    """

    uid: str
    token_ids: np.ndarray
    probs: np.ndarray
    nll: float

    @property
    def n_positions(self) -> int:
        return int(self.token_ids.shape[0])

    @classmethod
    def from_tensors(
        cls, uid: str, ids: Tensor, probs: Tensor, nll: float, vocab_size: int
    ) -> SampleDistributions:
        """Cast ``(n_pos, k)`` int64 ids and float probs (``topk_distribution``) to wire dtypes."""
        return cls(
            uid=uid,
            token_ids=ids.detach().cpu().numpy().astype(wire_id_dtype(vocab_size)),
            probs=probs.detach().cpu().float().numpy().astype(np.float16),
            nll=float(nll),
        )

    def ids_tensor(self) -> Tensor:
        """``(n_pos, k)`` int64 ids."""
        return torch.from_numpy(self.token_ids.astype(np.int64))

    def probs_tensor(self) -> Tensor:
        """``(n_pos, k)`` float32 probabilities."""
        return torch.from_numpy(self.probs.astype(np.float32))


@dataclass(frozen=True, eq=False)
class DistributionMessage:
    """Everything one side sends the other in one direction of one round.

    Attributes:
        schema_version: :data:`SCHEMA_VERSION` of the code that built it.
        sender: the sender's name (client name, or ``"server"``).
        round: the federated round it belongs to.
        vocab_size: width of the sender's logits (what ids index into).
        top_k: the k the sender was asked for; rows have ``min(top_k, vocab_size)`` columns.
        samples: one entry per public sample.
    """

    schema_version: int
    sender: str
    round: int
    vocab_size: int
    top_k: int
    samples: list[SampleDistributions]

    def by_uid(self) -> dict[str, SampleDistributions]:
        return {sample.uid: sample for sample in self.samples}

    def nll_by_uid(self) -> dict[str, float]:
        """The per-sample NLL that ``fedmkt.core.selection`` compares."""
        return {sample.uid: sample.nll for sample in self.samples}


def pack_samples(
    uids: Sequence[str],
    ids: Tensor,
    probs: Tensor,
    nll: Tensor,
    sample_index: Tensor,
    vocab_size: int,
) -> list[SampleDistributions]:
    """Split one batch's flat top-k rows into per-sample entries.

    Args:
        uids: ``n_samples`` uids of the batch's samples.
        ids, probs: ``(n, k)`` rows from ``topk_distribution``, in ``selected_logits`` order
            (sample by sample, so ``sample_index`` is non-decreasing).
        nll: ``(n_samples,)`` from ``answer_nll``.
        sample_index: ``(n,)`` which sample each row belongs to.
    """
    index = sample_index.detach().cpu().long()
    if index.numel() and bool((index[1:] < index[:-1]).any()):
        raise FedMKTError("pack_samples: sample_index must be non-decreasing (rows grouped by sample)")
    if nll.shape != (len(uids),):
        raise FedMKTError(f"pack_samples: expected nll of shape ({len(uids)},), got {tuple(nll.shape)}")
    counts = torch.bincount(index, minlength=len(uids)).tolist()
    id_rows, prob_rows = ids.split(counts), probs.split(counts)
    return [
        SampleDistributions.from_tensors(uid, id_rows[i], prob_rows[i], float(nll[i]), vocab_size)
        for i, uid in enumerate(uids)
    ]


def encode(message: DistributionMessage) -> bytes:
    """Safetensors bytes of ``message`` (flat tensors + JSON header in the metadata)."""
    k = min(message.top_k, message.vocab_size)
    id_dtype = wire_id_dtype(message.vocab_size)
    for sample in message.samples:
        if (
            sample.token_ids.ndim != 2
            or sample.token_ids.shape[1] != k
            or sample.probs.shape != sample.token_ids.shape
        ):
            raise FedMKTError(
                f"encode: sample {short_repr(sample.uid)}: expected token_ids and probs of shape (n_pos, {k}), "
                f"got {sample.token_ids.shape} and {sample.probs.shape}"
            )
    rows = [s.token_ids for s in message.samples]
    tensors = {
        "token_ids": np.concatenate(rows).astype(id_dtype) if rows else np.zeros((0, k), id_dtype),
        "probs": (
            np.concatenate([s.probs for s in message.samples]).astype(np.float16)
            if rows
            else np.zeros((0, k), np.float16)
        ),
        "n_positions": np.array([s.n_positions for s in message.samples], dtype=np.int32),
        "nll": np.array([s.nll for s in message.samples], dtype=np.float32),
    }
    header = {
        "schema_version": message.schema_version,
        "sender": message.sender,
        "round": message.round,
        "vocab_size": message.vocab_size,
        "top_k": message.top_k,
        "uids": [s.uid for s in message.samples],
    }
    return safetensors.numpy.save(tensors, metadata={HEADER_KEY: json.dumps(header)})


def message_nbytes(message: DistributionMessage) -> int:
    """Bytes ``message`` takes on the wire (what ``comm.jsonl`` records)."""
    return len(encode(message))


def decode(data: bytes) -> DistributionMessage:
    """Parse bytes from :func:`encode`; anything malformed raises :class:`MessageRejected`.

    Checks structure only (header fields and types, tensor names, dtypes, consistent shapes);
    :func:`validate` checks the contents against what the receiver knows.
    """
    header = read_header(data)
    sender = header["sender"]
    try:
        tensors = safetensors.numpy.load(bytes(data))
    except Exception as error:  # noqa: BLE001 - any parse failure of untrusted bytes is a rejection
        raise MessageRejected(
            f"undecodable tensors ({type(error).__name__}: {one_line(error)})", sender
        ) from None
    if sorted(tensors) != sorted(_TENSORS):
        raise MessageRejected(f"tensors {sorted(tensors)}, expected {sorted(_TENSORS)}", sender)
    ids, probs, counts, nll = (tensors[name] for name in _TENSORS)
    uids = header["uids"]
    if ids.ndim != 2 or probs.shape != ids.shape:
        raise MessageRejected(
            f"token_ids {ids.shape} and probs {probs.shape}: expected one (rows, k) shape", sender
        )
    if counts.dtype != np.int32 or nll.dtype != np.float32:
        raise MessageRejected(
            f"n_positions {counts.dtype} / nll {nll.dtype}: expected int32 / float32", sender
        )
    if counts.shape != (len(uids),) or nll.shape != (len(uids),):
        raise MessageRejected(
            f"n_positions {counts.shape} and nll {nll.shape}: expected ({len(uids)},), one per uid", sender
        )
    if (counts < 0).any():
        first = int(np.flatnonzero(counts < 0)[0])
        raise MessageRejected(
            f"sample {short_repr(uids[first])}: n_positions {int(counts[first])} is negative; "
            "expected a count of 0 or more", sender
        )
    if int(counts.sum(dtype=np.int64)) != ids.shape[0]:
        raise MessageRejected(
            f"n_positions sum to {int(counts.sum(dtype=np.int64))}, token_ids has {ids.shape[0]} rows", sender
        )
    splits = np.cumsum(counts[:-1], dtype=np.int64)
    samples = [
        SampleDistributions(uid=uid, token_ids=i, probs=p, nll=float(n))
        for uid, i, p, n in zip(uids, np.split(ids, splits), np.split(probs, splits), nll, strict=False)
    ]  # with no uids np.split still yields one (empty) piece, which zip drops
    return DistributionMessage(
        schema_version=header["schema_version"],
        sender=sender,
        round=header["round"],
        vocab_size=header["vocab_size"],
        top_k=header["top_k"],
        samples=samples,
    )
