"""Tokenizers of the real kinds, trained on a little text in well under a second each.

Byte-level BPE (GPT-2, SmolLM2), SentencePiece-style Unigram with ``▁`` and ``<0x0A>`` byte
fallback (Llama), WordPiece with ``##`` (BERT), and Gemma-style BPE (``▁`` from a normalizer,
byte fallback, no dummy prefix)."""

from __future__ import annotations

import json

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

WORDS = (
    "the of and to in is was for on that with as by at from it an be this are which or his her "
    "question answer science energy water plant animal earth sun moon light heat cell rock "
    "Paris France capital river mountain temperature because would could should number"
).split()

TRICKY = [
    "Question: What is the capital of France?\nAnswer: Paris",
    "   leading spaces, then  double  spaces\n\nand blank lines\n",
    "Question: 12 + 30 = ?\nAnswer: 42, i.e. 3.14159 * 2024",
    "Question: Ünïcödé naïve café — ok?\nAnswer: résumé",
    "Question: 東京 is in 日本?\nAnswer: はい 🙂",
    "\tIndented\ttabs\nand trailing spaces   ",
    "Question: Why?\nAnswer:",
    "",
]


def corpus() -> list[str]:
    """A few hundred deterministic lines covering words, digits, punctuation and some unicode."""
    lines = []
    for i in range(400):
        words = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(8 + i % 5)]
        lines.append(f"Question: {' '.join(words)} {i * 37 % 1000}?\nAnswer: {words[i % 8].capitalize()}.")
    return lines + ["café naïve résumé Ünïcödé — é è à"] * 5


def _wrap(tokenizer: Tokenizer, **special: str) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special)


def byte_level_bpe() -> PreTrainedTokenizerFast:
    """GPT-2 style: bytes as printable characters, ``Ġ`` for a leading space."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus(), trainer)
    return _wrap(tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def unigram_byte_fallback() -> PreTrainedTokenizerFast:
    """SentencePiece/Llama style: ``▁`` for spaces, ``<0x0A>`` byte pieces for unknown characters."""
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>"
    )
    tok.train_from_iterator(corpus(), trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    known = {piece for piece, _ in vocab}
    vocab[3:3] = [[f"<0x{b:02X}>", 0.0] for b in range(256) if f"<0x{b:02X}>" not in known]
    spec["model"]["byte_fallback"] = True
    spec["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ],
    }
    tok = Tokenizer.from_str(json.dumps(spec))
    return _wrap(tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def wordpiece() -> PreTrainedTokenizerFast:
    """BERT style: lowercased, ``##`` continuation pieces, no whitespace tokens."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=500, special_tokens=["[UNK]", "[PAD]", "[SEP]"])
    tok.train_from_iterator(corpus(), trainer)
    return _wrap(tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[SEP]")


def gemma_style_bpe() -> PreTrainedTokenizerFast:
    """Gemma style: BPE with byte fallback, spaces replaced by ``▁`` in a normalizer, no prefix space."""
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(Regex(" "), "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("▁"), behavior="merged_with_next")
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"])
    tok.train_from_iterator(corpus(), trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for b in bytes_:
        vocab.setdefault(b, len(vocab))
    spec["decoder"] = {
        "type": "Sequence",
        "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ],
    }
    tok = Tokenizer.from_str(json.dumps(spec))
    return _wrap(tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>")


KINDS = {
    "byte_bpe": byte_level_bpe,
    "unigram": unigram_byte_fallback,
    "wordpiece": wordpiece,
    "gemma_bpe": gemma_style_bpe,
}
