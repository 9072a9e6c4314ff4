"""Tiny but real stand-ins for the packaged assets, built in a second or two with no network.

- ``write_tiny_gguf``: a 2-layer llama GGUF (float32 tensors) with a byte-level BPE tokenizer
  trained on a few sentences, the same file layout llama.cpp writes (so transformers loads it
  through its real GGUF path).
- ``write_wheel``: a wheel whose RECORD holds the true SHA-256 of each file (optionally a wrong
  one, to test the check).
- ``write_sdist``: a ``.tar.gz`` with a top folder, like an sdist.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import gguf
import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

CORPUS = [
    "Question: Which gas do plants take in from the air to make their food?",
    "Answer: Plants take in carbon dioxide and use sunlight to turn it into sugar.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "def f(x):\n    return x ** 2  # code",
] * 20


def _byte_level_bpe(vocab_size: int = 320) -> tuple[list[str], list[str]]:
    """Tokens (byte-level spelled, id order) and merges of a BPE trained on ``CORPUS``."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return tokens, merges


def write_tiny_gguf(path: Path, seed: int = 0, hidden: int = 64, layers: int = 2) -> Path:
    """A tiny llama GGUF (tied embeddings, float32) with its tokenizer, loadable by transformers."""
    tokens, merges = _byte_level_bpe()
    vocab, heads, kv_heads, ffn = len(tokens), 4, 2, 128
    head_dim = hidden // heads
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_add_bos_token(False)

    writer.add_tensor("token_embd.weight", weight(vocab, hidden))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(ffn, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(hidden, ffn))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(
    folder: Path, name: str, version: str, files: dict[str, bytes], wrong_hash_for: str | None = None
) -> Path:
    """A pure-python wheel ``<name>-<version>-py3-none-any.whl`` holding ``files`` and a RECORD."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    entries = dict(files)
    entries[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    entries[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = io.StringIO()
    for member, data in entries.items():
        digest = _record_hash(b"tampered" if member == wrong_hash_for else data)
        record.write(f"{member},{digest},{len(data)}\n")
    record.write(f"{info}/RECORD,,\n")
    entries[f"{info}/RECORD"] = record.getvalue().encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in entries.items():
            zf.writestr(member, data)
    return path


def write_sdist(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """``<name>-<version>.tar.gz`` with every file under the top folder ``<name>-<version>/``."""
    folder.mkdir(parents=True, exist_ok=True)
    top = f"{name}-{version}"
    path = folder / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path
