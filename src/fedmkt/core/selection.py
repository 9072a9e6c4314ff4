"""DualMinCE: which teacher, if any, each public sample is distilled from.

Paper section 3.2 ("Selective Mutual Knowledge Transfer", DualMinCE): for each public sample,
compare the cross-entropy of every model against the gold answer;

- server (SLMs -> LLM): distill from the client SLM with the minimum cross-entropy;
- client (LLM -> SLM): distill from the LLM only if its cross-entropy is lower than the SLM's own.

The paper's server rule does not compare the clients with the LLM itself, and neither do we
(the FATE-LLM code also lets the LLM's own distribution win; that is not what the paper states).

Which cross-entropy: models with different tokenizers cut the same answer into different
numbers of tokens, so a mean per token favours the finer tokenizer. We compare the TOTAL
negative log-likelihood (nats) of the gold answer given the prompt (``fedmkt.core.topk.
answer_nll``): the probability each model gives the whole answer text (and its end), a
property of the text, not of the tokens. Bits per byte (:func:`bits_per_byte`) divides it by
the answer's byte length, the same for every model, so it ranks identically; it is provided
for reports only. Comparisons are made in fp32 (the reference compared rewards in bf16, where
close values tie).

Ties: server -> the lowest client index (the order clients are passed in); client -> no
distillation (strictly lower only). A missing or non-finite NLL never wins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedmkt.errors import FedMKTError

NO_TEACHER = -1


def min_ce_teacher(nll: np.ndarray) -> np.ndarray:
    """Per sample, the row with the lowest NLL; :data:`NO_TEACHER` where no row is finite.

    Args:
        nll: ``(n_clients, n_samples)`` NLLs; NaN or inf means "not eligible".

    Returns:
        ``(n_samples,)`` int64 client index; ties go to the lowest index.
    """
    values = np.asarray(nll, dtype=np.float32)
    if values.ndim != 2:
        raise FedMKTError(f"min_ce_teacher: expected (n_clients, n_samples) NLLs, got shape {values.shape}")
    if values.shape[0] == 0:
        return np.full(values.shape[1], NO_TEACHER, dtype=np.int64)
    masked = np.where(np.isfinite(values), values, np.inf)
    teacher = np.argmin(masked, axis=0).astype(np.int64)  # argmin returns the first minimum
    teacher[~np.isfinite(masked.min(axis=0))] = NO_TEACHER
    return teacher


@dataclass(frozen=True, eq=False)
class ServerSelection:
    """The server's choice of client teacher per public sample.

    Attributes:
        uids: ``n_samples`` public sample uids.
        clients: client names, in the order that breaks ties.
        teacher: ``(n_samples,)`` int64 index into ``clients``, :data:`NO_TEACHER` for none.
        teacher_nll: ``(n_samples,)`` float32 NLL of the chosen client (NaN for none).
    """

    uids: tuple[str, ...]
    clients: tuple[str, ...]
    teacher: np.ndarray
    teacher_nll: np.ndarray

    def teacher_of(self, uid: str) -> str | None:
        index = int(self.teacher[self.uids.index(uid)])
        return None if index == NO_TEACHER else self.clients[index]

    def uids_for(self, client: str) -> list[str]:
        """The samples distilled from ``client``."""
        index = self.clients.index(client)
        return [uid for uid, t in zip(self.uids, self.teacher, strict=True) if t == index]

    def counts(self) -> dict[str, int]:
        """Samples per client, plus ``"none"`` (no eligible client)."""
        tally = np.bincount(self.teacher + 1, minlength=len(self.clients) + 1)
        return {"none": int(tally[0])} | {name: int(tally[i + 1]) for i, name in enumerate(self.clients)}

    def summary(self) -> dict:
        """JSON-ready record for the run log: counts and the teacher of every sample."""
        return {
            "side": "server",
            "counts": self.counts(),
            "teacher": {
                uid: None if t == NO_TEACHER else self.clients[t]
                for uid, t in zip(self.uids, self.teacher.tolist(), strict=True)
            },
        }


def select_server_teachers(
    nll_by_client: Mapping[str, Mapping[str, float]], uids: Sequence[str]
) -> ServerSelection:
    """DualMinCE on the server: per sample, the client whose SLM has the lowest answer NLL.

    Args:
        nll_by_client: client name -> (uid -> NLL) from each accepted message; a client whose
            message was rejected is simply left out. Insertion order is the tie-break order.
        uids: the public samples to decide for.
    """
    clients = tuple(nll_by_client)
    matrix = np.full((len(clients), len(uids)), np.nan, dtype=np.float32)
    for row, client in enumerate(clients):
        values = nll_by_client[client]
        matrix[row] = [values.get(uid, math.nan) for uid in uids]
    teacher = min_ce_teacher(matrix)
    chosen = np.full(len(uids), np.nan, dtype=np.float32)
    has = teacher != NO_TEACHER
    chosen[has] = matrix[teacher[has], np.nonzero(has)[0]]
    return ServerSelection(uids=tuple(uids), clients=clients, teacher=teacher, teacher_nll=chosen)


@dataclass(frozen=True, eq=False)
class ClientSelection:
    """A client's decision, per public sample, whether to distill from the LLM.

    Attributes:
        uids: ``n_samples`` public sample uids.
        distill: ``(n_samples,)`` bool, True where the LLM's NLL is strictly lower.
        teacher_nll, own_nll: ``(n_samples,)`` float32 (NaN where missing).
    """

    uids: tuple[str, ...]
    distill: np.ndarray
    teacher_nll: np.ndarray
    own_nll: np.ndarray

    def uids_to_distill(self) -> list[str]:
        return [uid for uid, flag in zip(self.uids, self.distill, strict=True) if flag]

    def counts(self) -> dict[str, int]:
        """``{"llm": samples distilled, "none": samples not distilled}``."""
        n = int(self.distill.sum())
        return {"llm": n, "none": len(self.uids) - n}

    def summary(self) -> dict:
        """JSON-ready record for the run log."""
        return {"side": "client", "counts": self.counts(), "distill": self.uids_to_distill()}


def select_client_teacher(
    llm_nll: Mapping[str, float], own_nll: Mapping[str, float], uids: Sequence[str]
) -> ClientSelection:
    """DualMinCE on a client: distill from the LLM only where its answer NLL is strictly lower.

    A missing or non-finite LLM NLL means no distillation; a non-finite own NLL (a diverged
    model) loses to any finite LLM NLL.
    """
    teacher = np.array([llm_nll.get(uid, math.nan) for uid in uids], dtype=np.float32)
    own = np.array([own_nll.get(uid, math.nan) for uid in uids], dtype=np.float32)
    own_cmp = np.where(np.isfinite(own), own, np.inf)
    distill = np.isfinite(teacher) & (teacher < own_cmp)
    return ClientSelection(uids=tuple(uids), distill=distill, teacher_nll=teacher, own_nll=own)


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    """Answer NLL in bits per UTF-8 byte of the answer text (for reports; ranks like the NLL)."""
    if n_bytes <= 0:
        raise FedMKTError(f"bits_per_byte: n_bytes must be > 0, got {n_bytes}")
    return nll_nats / (math.log(2) * n_bytes)
