"""Tiny random-init causal LMs with tokenizers trained on the fly: the whole pipeline, no assets.

A tiny model is named ``tiny-<arch>-<tok>[-<size>]``, e.g. ``tiny-llama-unigram-m`` (a server)
and ``tiny-gpt2-bpe`` (a client). The three tokenizer kinds differ the way real ones do, so
cross-tokenizer alignment meets the same problems it meets on real models:

- ``bpe``: byte-level BPE with the ``Ġ`` space marker and GPT-2's split regex (GPT-2, SmolLM2);
  multi-digit number tokens; ``<|endoftext|>`` is bos, eos and unk; no bos is added.
- ``unigram``: SentencePiece-style Unigram LM with the ``▁`` space marker, single digits,
  newline pieces and ``<0xNN>`` byte fallback (Gemma, LLaMA); ``<bos>`` is prepended.
- ``wordpiece``: BERT-style WordPiece with ``##`` continuations, split on whitespace only, so
  text with single spaces and no newlines decodes exactly; newlines decode as spaces.

Tokenizers are trained with the ``tokenizers`` library on ``resources/tiny_corpus.txt`` (about
120 KB shipped with the package) in well under a second and cached per process. Weights are
drawn from a ``seed`` inside ``torch.random.fork_rng``, so the same name and seed give the same
model and the caller's global RNG state is left as it was. All dropouts are zero; the init
scale lets a LoRA adapter on a random model actually learn (see ``_config_kwargs``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from fedmkt.errors import FedMKTError

TINY_ARCHS: tuple[str, ...] = ("llama", "gpt2", "qwen2", "opt", "gemma3")
TINY_TOKENIZERS: tuple[str, ...] = ("bpe", "unigram", "wordpiece")
TINY_SIZES: dict[str, dict[str, int]] = {
    # hidden width, layers, attention heads, feed-forward width
    "s": {"hidden": 64, "layers": 2, "heads": 4, "ffn": 128},
    "m": {"hidden": 96, "layers": 3, "heads": 4, "ffn": 192},
}
MAX_POSITIONS = 1024

# Special tokens per kind, in id order: (pad, eos, bos, unk) roles are assigned in _SPECIAL_ROLES.
_SPECIALS: dict[str, list[str]] = {
    "bpe": ["<|endoftext|>", "<|pad|>"],
    "unigram": ["<pad>", "<eos>", "<bos>", "<unk>"],
    "wordpiece": ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
}
_SPECIAL_ROLES: dict[str, dict[str, str]] = {
    "bpe": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
            "pad_token": "<|pad|>"},
    "unigram": {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"},
    "wordpiece": {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]"},
}
# Trainer vocabulary sizes differ per kind so that no two tiny vocabularies line up by accident.
_VOCAB_SIZES = {"bpe": 1024, "unigram": 1200, "wordpiece": 900}

_NAME = re.compile(r"^tiny-(?P<arch>[a-z0-9_]+)-(?P<tok>[a-z]+)(?:-(?P<size>[a-z]+))?$")


@dataclass(frozen=True)
class TinySpec:
    """A parsed tiny model name."""

    arch: str
    tokenizer: str
    size: str = "s"

    @property
    def name(self) -> str:
        suffix = "" if self.size == "s" else f"-{self.size}"
        return f"tiny-{self.arch}-{self.tokenizer}{suffix}"


def is_tiny_name(name: str) -> bool:
    """Whether ``name`` is meant as a tiny model (``tiny-...``), valid or not."""
    return name.startswith("tiny-")


def parse_tiny_name(name: str) -> TinySpec:
    """``"tiny-llama-unigram-m"`` -> ``TinySpec("llama", "unigram", "m")``; FedMKTError if malformed."""
    match = _NAME.match(name)
    if match is None:
        raise FedMKTError(
            f"tiny model name {name!r} is malformed: expected tiny-<arch>-<tokenizer>[-<size>], "
            f"e.g. tiny-llama-unigram-m"
        )
    spec = TinySpec(match["arch"], match["tok"], match["size"] or "s")
    if spec.arch not in TINY_ARCHS:
        raise FedMKTError(f"tiny model {name!r}: unknown architecture {spec.arch!r}; expected one of "
                          f"{', '.join(TINY_ARCHS)}")
    if spec.tokenizer not in TINY_TOKENIZERS:
        raise FedMKTError(f"tiny model {name!r}: unknown tokenizer kind {spec.tokenizer!r}; expected one "
                          f"of {', '.join(TINY_TOKENIZERS)}")
    if spec.size not in TINY_SIZES:
        raise FedMKTError(f"tiny model {name!r}: unknown size {spec.size!r}; expected one of "
                          f"{', '.join(TINY_SIZES)}")
    return spec


def tiny_corpus() -> str:
    """The packaged training text for tiny tokenizers (plain English, arithmetic, word reversal)."""
    return files("fedmkt").joinpath("resources/tiny_corpus.txt").read_text(encoding="utf-8")


def _bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=_VOCAB_SIZES["bpe"], special_tokens=_SPECIALS["bpe"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_paragraphs(), trainer)
    return tok


def _unigram() -> Tokenizer:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    specials = _SPECIALS["unigram"]
    trainer = trainers.UnigramTrainer(vocab_size=_VOCAB_SIZES["unigram"], special_tokens=specials,
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(_paragraphs(), trainer)
    # Rebuild with byte fallback: <0x00>..<0xFF> right after the specials, as SentencePiece does.
    # The trainer's scores jitter by ~1e-14 between runs, which reorders near-ties: round them and
    # order by (score, piece) so that ids are the same in every process.
    rounded = [(piece, round(score, 6)) for piece, score in _unigram_vocab(tok) if piece not in specials]
    learned = sorted(rounded, key=lambda item: (-item[1], item[0]))
    floor = min(score for _, score in learned) - 1.0
    vocab = [(s, 0.0) for s in specials] + [(f"<0x{b:02X}>", floor) for b in range(256)] + learned
    rebuilt = Tokenizer(models.Unigram(vocab, unk_id=specials.index("<unk>"), byte_fallback=True))
    rebuilt.pre_tokenizer = tok.pre_tokenizer
    rebuilt.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    rebuilt.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", specials.index("<bos>"))]
    )
    return rebuilt


def _unigram_vocab(tok: Tokenizer) -> list[tuple[str, float]]:
    return [(piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]


def _wordpiece() -> Tokenizer:
    # tokenizers' WordPieceTrainer numbers the ``##x`` forms in hash order and breaks merge ties by
    # id, so its vocabulary changes between processes. The same BPE learning with a fixed alphabet
    # and a word-initial ``▁`` is deterministic; a piece without ``▁`` is then a ``##`` continuation.
    corpus = tiny_corpus()
    alphabet = sorted(set(corpus) - set(" \n"))
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=_VOCAB_SIZES["wordpiece"], initial_alphabet=[*alphabet, "▁"],
                                  show_progress=False)
    bpe.train_from_iterator(_paragraphs(), trainer)
    pieces = {p[1:] if p.startswith("▁") else "##" + p for p in bpe.get_vocab()} - {""}
    pieces |= set(alphabet) | {"##" + c for c in alphabet}
    specials = _SPECIALS["wordpiece"]
    vocab = {piece: i for i, piece in enumerate(specials + sorted(pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return tok


def _paragraphs() -> list[str]:
    return tiny_corpus().split("\n\n")


_BUILDERS = {"bpe": _bpe, "unigram": _unigram, "wordpiece": _wordpiece}


@cache
def _trained(kind: str) -> Tokenizer:
    """The trained backend tokenizer; its special tokens (already in the vocabulary, lowest ids)
    are marked special so they match as whole units in text and are skipped when decoding."""
    tok = _BUILDERS[kind]()
    tok.add_special_tokens(_SPECIALS[kind])
    return tok


def build_tiny_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """A fresh ``PreTrainedTokenizerFast`` of ``kind`` (``bpe``, ``unigram`` or ``wordpiece``).

    Training happens once per process (cached); every call returns a new wrapper, so callers may
    change ``padding_side`` without affecting each other. Deterministic: the trainers are
    deterministic on a fixed corpus.
    """
    if kind not in TINY_TOKENIZERS:
        raise FedMKTError(f"unknown tiny tokenizer kind {kind!r}; expected one of "
                          f"{', '.join(TINY_TOKENIZERS)}")
    return PreTrainedTokenizerFast(
        tokenizer_object=_trained(kind),
        clean_up_tokenization_spaces=False,
        model_max_length=MAX_POSITIONS,
        **_SPECIAL_ROLES[kind],
    )


def _config_kwargs(arch: str, size: dict[str, int]) -> dict:
    """Architecture-specific config fields for a tiny model with all dropouts off.

    Weights start with std ``hidden ** -0.5`` instead of the usual 0.02: with 0.02 a frozen random
    LM head can only produce logits within about +-1.3, so a LoRA adapter cannot lower the loss
    much below ``ln(vocab)`` and nothing downstream (training, KD, selection) gets a signal.
    """
    hidden, layers, heads, ffn = size["hidden"], size["layers"], size["heads"], size["ffn"]
    init = hidden ** -0.5
    if arch == "gpt2":
        return dict(n_embd=hidden, n_layer=layers, n_head=heads, n_inner=ffn, n_positions=MAX_POSITIONS,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=init)
    if arch == "opt":
        return dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, ffn_dim=ffn,
                    word_embed_proj_dim=hidden, max_position_embeddings=MAX_POSITIONS, dropout=0.0,
                    attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0, init_std=init)
    common = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=heads // 2, intermediate_size=ffn,
                  max_position_embeddings=MAX_POSITIONS, attention_dropout=0.0, initializer_range=init)
    if arch == "gemma3":
        # Gemma-3's peculiarities kept: tied head, explicit head_dim, sliding-window layers.
        return dict(common, head_dim=hidden // heads, sliding_window=64, tie_word_embeddings=True,
                    query_pre_attn_scalar=hidden // heads)
    return dict(common, tie_word_embeddings=False)  # llama, qwen2


_MODEL_TYPES = {"llama": "llama", "gpt2": "gpt2", "qwen2": "qwen2", "opt": "opt", "gemma3": "gemma3_text"}


def build_tiny_model(name: str, *, seed: int = 0, dtype: torch.dtype = torch.float32
                     ) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Random-init tiny causal LM and its tokenizer for ``name`` (``tiny-<arch>-<tok>[-<size>]``).

    The model's vocabulary is exactly the tokenizer's (``len(tokenizer)`` rows); it is returned in
    eval mode. Same ``name`` and ``seed`` give bit-identical weights; global RNG state is untouched.
    """
    spec = parse_tiny_name(name)
    tokenizer = build_tiny_tokenizer(spec.tokenizer)
    ids = {role: tokenizer.convert_tokens_to_ids(getattr(tokenizer, role))
           for role in ("bos_token", "eos_token", "pad_token")}
    config = AutoConfig.for_model(
        _MODEL_TYPES[spec.arch],
        vocab_size=len(tokenizer),
        bos_token_id=ids["bos_token"],
        eos_token_id=ids["eos_token"],
        pad_token_id=ids["pad_token"],
        **_config_kwargs(spec.arch, TINY_SIZES[spec.size]),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.to(dtype)
    model.name_or_path = spec.name
    return model.eval(), tokenizer
