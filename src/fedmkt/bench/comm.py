"""``fedmkt bench comm``: bytes on the wire per round, ours against LoRA, full model and FATE-LLM.

What is modelled, for the config's public set (``build_split``) and each participant's real
tokenizer (``PublicView`` at the participant's ``train.max_length``):

- ours: one :class:`DistributionMessage` per sender, encoded with ``messages.encode`` exactly
  as a run sends it: the top-``fedmkt.top_k`` ids (smallest integer type for the vocabulary)
  and float16 probabilities of every scored position (``fedmkt.kd_positions``: the ANSWER
  positions, or ALL positions a token follows), plus one NLL per sample. Each client
  sends its message up; the server sends its message down to every client. The payload is
  random but valid (distinct ids, descending softmax probabilities); the size depends only
  on the shapes. No forward pass. ``ours_answer`` and ``ours_all`` give both choices whatever
  the config says (``ours`` is the config's).
- LoRA: what a FedAvg exchange of the clients' adapters costs: each client sends its
  trainable parameters (after ``attach_lora`` with its ``lora`` settings) up and receives the
  average, of the same size, down; bytes = parameters x element size in the loaded dtype
  (``runtime.dtype`` resolved for a CPU load: ``auto`` is float32). The server's own adapter is
  listed per participant.
- full model: the same FedAvg exchange of every parameter of each client's base model.
- reference (FATE-LLM's FedMKT encoding of the same logits): per sample, the dataset padded
  to the longest public sample of that tokenizer, with at EVERY position (prompt, answer and
  padding) a Python list of top-k ids and a Python list of top-k probabilities (floats), plus
  ``input_ids``, ``labels`` (-100 off the answer) and ``attention_mask`` as Python lists; the
  list of per-sample dicts is serialised with ``pickle.dumps`` (highest protocol). Same
  random payload distribution as ours.

``ratio`` is reference bytes / our bytes per direction (> 1: ours is smaller).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch

from fedmkt.bench.align import random_topk
from fedmkt.config import ExperimentConfig, ParticipantConfig
from fedmkt.core.exchange_settings import KD_POSITIONS
from fedmkt.core.messages import SCHEMA_VERSION, DistributionMessage, SampleDistributions, encode, wire_id_dtype
from fedmkt.core.public_view import PublicView
from fedmkt.data.example import Example
from fedmkt.models.loading import load_model_and_tokenizer, load_tokenizer
from fedmkt.models.lora import attach_lora
from fedmkt.runners.split import build_split
from fedmkt.training.encode import IGNORE_INDEX


def our_message(view: PublicView, sender: str, vocab_size: int, top_k: int, seed: int) -> DistributionMessage:
    """One round's message with random valid rows: ``(n_pos, k)`` ids + fp16 probs per sample."""
    rows = [int(p.size) for p in view.positions]
    ids, probs = random_topk(sum(rows), vocab_size, top_k, torch.Generator().manual_seed(seed))
    samples = [
        SampleDistributions.from_tensors(uid, i, p, 1.0, vocab_size)
        for uid, i, p in zip(view.uids, ids.split(rows), probs.split(rows), strict=True)
    ]
    return DistributionMessage(SCHEMA_VERSION, sender, 1, vocab_size, top_k, samples)


def our_message_bytes(view: PublicView, sender: str, vocab_size: int, top_k: int, seed: int) -> int:
    """Size of ``messages.encode`` of :func:`our_message`: what a run sends."""
    return len(encode(our_message(view, sender, vocab_size, top_k, seed)))


def reference_bytes(view: PublicView, vocab_size: int, top_k: int, seed: int) -> int:
    """``pickle.dumps`` of the padded dataset with top-k lists at every position (see module doc)."""
    k = min(top_k, vocab_size)
    length = max((len(ex.input_ids) for ex in view.encoded), default=0)
    rng = np.random.default_rng(seed)
    records = []
    for ex in view.encoded:
        n = len(ex.input_ids)
        pad = length - n
        ids = rng.choice(vocab_size, size=(length, k)) if vocab_size > k else np.tile(np.arange(k), (length, 1))
        probs = np.sort(rng.dirichlet(np.ones(k), size=length).astype(np.float32), axis=1)[:, ::-1]
        records.append({
            "input_ids": list(ex.input_ids) + [0] * pad,
            "attention_mask": [1] * n + [0] * pad,
            "labels": list(ex.labels) + [IGNORE_INDEX] * pad,
            "topk_ids": ids.astype(np.int64).tolist(),
            "topk_probs": probs.astype(np.float64).tolist(),
        })
    return len(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))


def _weights(part: ParticipantConfig, config: ExperimentConfig) -> dict[str, int]:
    """Trainable LoRA and full-model parameter counts and bytes, plus the logit width."""
    model, _ = load_model_and_tokenizer(part.model, dtype=config.runtime.dtype, seed=config.seed)
    full_params = sum(p.numel() for p in model.parameters())
    full_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    vocab = int(model.get_output_embeddings().weight.shape[0])
    lora = attach_lora(model, r=part.lora.r, alpha=part.lora.alpha, dropout=part.lora.dropout,
                       target_modules=part.lora.target_modules, seed=config.seed)
    trainable = [p for p in lora.parameters() if p.requires_grad]
    return {
        "vocab_size": vocab,
        "model_params": full_params,
        "model_bytes": full_bytes,
        "lora_params": sum(p.numel() for p in trainable),
        "lora_bytes": sum(p.numel() * p.element_size() for p in trainable),
    }


def _participant(part: ParticipantConfig, public: list[Example], config: ExperimentConfig,
                 weights: dict[str, int], seed: int) -> dict[str, Any]:
    tokenizer = load_tokenizer(part.model)
    views = {which: PublicView(tokenizer, public, part.train.max_length, which) for which in KD_POSITIONS}
    view = views["answer"]
    vocab, top_k = weights["vocab_size"], config.fedmkt.top_k
    sizes = {which: our_message_bytes(v, part.name, vocab, top_k, seed) for which, v in views.items()}
    return {
        "name": part.name, "model": part.model, **weights,
        "id_dtype": str(wire_id_dtype(vocab)),
        "answer_positions": int(sum(p.size for p in view.positions)),
        "all_positions": int(sum(p.size for p in views["all"].positions)),
        "padded_length": max((len(ex.input_ids) for ex in view.encoded), default=0),
        "ours_bytes": sizes[config.fedmkt.kd_positions],
        "ours_answer_bytes": sizes["answer"],
        "ours_all_bytes": sizes["all"],
        "reference_bytes": reference_bytes(view, vocab, top_k, seed),
    }


def bench_comm(config: ExperimentConfig) -> dict[str, Any]:
    """Bytes per message per direction per round for ``config`` (see the module docstring).

    Returns a JSON-ready dict: ``public_size``, ``top_k``, ``kd_positions``, ``participants`` (one
    entry each, server first), and for ``up`` (every client to the server, summed) and ``down`` (the
    server's message to every client, summed) the ``ours`` (the config's positions), ``ours_answer``,
    ``ours_all``, ``reference``, ``lora`` and ``model`` bytes and ``ratio`` = reference / ours;
    ``round`` sums both directions. ``lora``/``model`` are the clients' weights both ways (FedAvg).
    """
    public = build_split(config).public
    cache: dict[str, dict[str, int]] = {}
    parts = []
    for i, part in enumerate([config.server, *config.clients]):
        key = part.model + part.lora.model_dump_json()
        if key not in cache:
            cache[key] = _weights(part, config)
        parts.append(_participant(part, public, config, cache[key], config.seed + i))
    server, clients = parts[0], parts[1:]
    n = len(clients)
    up = {
        "ours": sum(c["ours_bytes"] for c in clients),
        "ours_answer": sum(c["ours_answer_bytes"] for c in clients),
        "ours_all": sum(c["ours_all_bytes"] for c in clients),
        "reference": sum(c["reference_bytes"] for c in clients),
        "lora": sum(c["lora_bytes"] for c in clients),
        "model": sum(c["model_bytes"] for c in clients),
    }
    down = {
        "ours": n * server["ours_bytes"],
        "ours_answer": n * server["ours_answer_bytes"],
        "ours_all": n * server["ours_all_bytes"],
        "reference": n * server["reference_bytes"],
        "lora": up["lora"],
        "model": up["model"],
    }
    total = {key: up[key] + down[key] for key in up}
    for block in (up, down, total):
        block["ratio"] = block["reference"] / max(block["ours"], 1)
    return {"name": config.name, "task": config.task, "public_size": len(public),
            "top_k": config.fedmkt.top_k, "kd_positions": config.fedmkt.kd_positions, "clients": n,
            "participants": parts,
            "up": up, "down": down, "round": total}
