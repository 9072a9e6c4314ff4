"""What text each token stands for, read from the tokenizer itself (paper: MinED token alignment).

MinED compares the tokens of two vocabularies by their text, but tokenizers spell the same
text differently: byte-level BPE writes every byte as a printable character (``Ġ`` is a
space, ``Ċ`` a newline), SentencePiece writes spaces as ``▁`` and characters outside its
vocabulary as byte tokens ``<0x0A>``, WordPiece marks word-internal pieces with ``##``.
This module reads which of these conventions a tokenizer uses from its own pipeline
(decoder, pre-tokenizer, normalizer, model) - never from a table of tokenizer classes - and
turns every vocabulary entry into its *surface*: the UTF-8 bytes it contributes to the text.

Surfaces are bytes, not str, because a byte-level or byte-fallback token may hold part of a
multi-byte character. Special tokens (BOS, EOS, pad, control tokens) contribute no text:
their surface is ``b""`` and their literal content is kept in ``tokens``.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Bump whenever the surface of any token changes: it is part of every vocabulary-map cache key.
NORMALISATION_VERSION = 1

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
ROLES = ("eos", "bos", "unk", "pad")


@dataclass(frozen=True)
class TokenScheme:
    """How a tokenizer spells text in its vocabulary.

    Attributes:
        byte_level: tokens are GPT-2 style byte-to-printable-character strings.
        space_marker: character standing for a space (``"▁"`` for SentencePiece), or None.
        byte_fallback: ``<0xNN>`` tokens stand for the single byte ``NN``.
        continuation_prefix: WordPiece prefix of word-internal pieces (``"##"``); pieces
            without it start a word and get a leading space. None for other tokenizers.
    """

    byte_level: bool = False
    space_marker: str | None = None
    byte_fallback: bool = False
    continuation_prefix: str | None = None


def _components(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flatten a tokenizers pipeline component (which may be a ``Sequence``) into a list."""
    if not spec:
        return []
    children = spec.get("decoders") or spec.get("pretokenizers") or spec.get("normalizers")
    if spec.get("type") == "Sequence" and children:
        return [leaf for child in children for leaf in _components(child)]
    return [spec]


def _string_pattern(pattern: Any) -> str | None:
    return pattern.get("String") if isinstance(pattern, dict) else None


def scheme_from_json(spec: dict[str, Any]) -> TokenScheme:
    """Read the scheme from a ``tokenizer.json`` document (``Tokenizer.to_str()`` parsed)."""
    byte_level = False
    marker: str | None = None
    byte_fallback = bool((spec.get("model") or {}).get("byte_fallback"))
    prefix: str | None = None
    for part in _components(spec.get("decoder")) + _components(spec.get("pre_tokenizer")):
        kind = part.get("type")
        if kind == "ByteLevel":
            byte_level = True
        elif kind == "Metaspace":
            marker = marker or part.get("replacement")
        elif kind == "Replace" and part.get("content") == " ":
            marker = marker or _string_pattern(part.get("pattern"))
        elif kind == "ByteFallback":
            byte_fallback = True
        elif kind == "WordPiece":
            prefix = part.get("prefix", "##")
    for part in _components(spec.get("normalizer")):
        if part.get("type") == "Replace" and _string_pattern(part.get("pattern")) == " ":
            marker = marker or part.get("content")
    model = spec.get("model") or {}
    if prefix is None and model.get("type") == "WordPiece":
        prefix = model.get("continuing_subword_prefix") or "##"
    return TokenScheme(byte_level, marker or None, byte_fallback, prefix)


def _scheme_from_vocab(vocab: dict[str, int]) -> TokenScheme:
    """Fallback for tokenizers without a ``tokenizers`` backend: infer from the vocabulary."""
    starts = [token[:1] for token in vocab]
    marker = "▁" if starts.count("▁") > len(vocab) // 20 else None
    byte_level = marker is None and starts.count("Ġ") > len(vocab) // 20
    prefix = "##" if sum(t.startswith("##") for t in vocab) > len(vocab) // 20 else None
    return TokenScheme(byte_level, marker, "<0x0A>" in vocab, prefix)


def _component_state(component: Any) -> dict[str, Any] | None:
    return json.loads(component.__getstate__()) if component is not None else None


def detect_scheme(tokenizer: PreTrainedTokenizerBase) -> TokenScheme:
    """The spelling scheme of ``tokenizer``, read from its backend pipeline.

    Reads the pipeline components one by one rather than ``to_str()``: a 262k-entry
    ``tokenizer.json`` takes seconds to serialise and parse.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return _scheme_from_vocab(tokenizer.get_vocab())
    model = backend.model
    spec = {
        "decoder": _component_state(backend.decoder),
        "pre_tokenizer": _component_state(backend.pre_tokenizer),
        "normalizer": _component_state(backend.normalizer),
        "model": {
            "type": type(model).__name__,
            "byte_fallback": getattr(model, "byte_fallback", False),
            "continuing_subword_prefix": getattr(model, "continuing_subword_prefix", None),
        },
    }
    return scheme_from_json(spec)


def _byte_decoder() -> dict[int, str]:
    """GPT-2 printable character (as ordinal) -> the latin-1 character of the byte it stands for."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {ord(char): chr(byte) for byte, char in bytes_to_unicode().items()}


def token_surface(token: str, scheme: TokenScheme, byte_table: dict[int, str] | None = None) -> bytes:
    """The UTF-8 bytes that the ordinary vocabulary entry ``token`` contributes to a text."""
    if scheme.byte_fallback and (match := _BYTE_TOKEN.fullmatch(token)):
        return bytes([int(match[1], 16)])
    if scheme.byte_level:
        table = byte_table if byte_table is not None else _byte_decoder()
        latin = token.translate(table)
        try:
            return latin.encode("latin-1")
        except UnicodeEncodeError:  # a character outside the byte alphabet: keep it as text
            return b"".join(c.encode("latin-1") if ord(c) < 256 else c.encode() for c in latin)
    text = token
    if scheme.continuation_prefix:
        prefix = scheme.continuation_prefix
        text = text[len(prefix) :] if text.startswith(prefix) else " " + text
    if scheme.space_marker:
        text = text.replace(scheme.space_marker, " ")
    return text.encode("utf-8")


@dataclass(frozen=True, eq=False)
class TokenSurfaces:
    """Every id of one tokenizer with the text it stands for.

    Attributes:
        tokens: raw vocabulary string per id (``convert_ids_to_tokens``); None for holes.
        surfaces: bytes each id contributes to a text; ``b""`` for special tokens and holes.
        lengths: ``(vocab,)`` int64, ``len(surfaces[i])``.
        special: ``(vocab,)`` bool, control tokens that carry no text.
        byte_token: ``(vocab,)`` bool, byte-fallback pieces ``<0xNN>``.
        roles: ``{"eos"|"bos"|"unk"|"pad": id}`` for the roles the tokenizer defines.
        scheme: the spelling scheme the surfaces were read with.
    """

    tokens: tuple[str | None, ...]
    surfaces: tuple[bytes, ...]
    lengths: np.ndarray
    special: np.ndarray
    byte_token: np.ndarray
    roles: dict[str, int]
    scheme: TokenScheme

    def __len__(self) -> int:
        return len(self.tokens)

    def special_key(self, token_id: int) -> str:
        """What a special token is, comparable across tokenizers: its role, else its content."""
        role = next((r for r in ROLES if self.roles.get(r) == token_id), None)
        return role or str(self.tokens[token_id])

    @cached_property
    def digest(self) -> str:
        """SHA-256 of everything a vocabulary map depends on (surfaces, specials, roles, version)."""
        h = hashlib.sha256(f"fedmkt-surfaces-v{NORMALISATION_VERSION}".encode())
        h.update(self.lengths.astype("<i8").tobytes())
        h.update(b"".join(self.surfaces))
        h.update(self.special.tobytes())
        h.update(self.byte_token.tobytes())
        specials = {i: self.tokens[i] for i in np.flatnonzero(self.special).tolist()}
        h.update(json.dumps([specials, self.roles], sort_keys=True, default=str).encode())
        return h.hexdigest()


_READ: weakref.WeakKeyDictionary[Any, tuple[tuple, TokenSurfaces]] = weakref.WeakKeyDictionary()


def _fingerprint(tokenizer: PreTrainedTokenizerBase) -> tuple:
    """What the surfaces depend on that a tokenizer object can change after loading: its size, specials, roles."""
    roles = tuple(getattr(tokenizer, f"{role}_token_id", None) for role in ROLES)
    return len(tokenizer), tuple(sorted(tokenizer.all_special_ids)), roles


def token_surfaces(tokenizer: PreTrainedTokenizerBase) -> TokenSurfaces:
    """Every id of ``tokenizer`` (``len(tokenizer)`` ids, added tokens included), read once per tokenizer object.

    Each aligner holds both sides' surfaces, and in a federation every client's aligner with the server
    (both ways) reads the same two tokenizers: one copy per tokenizer object instead of one per aligner
    (Gemma-3's 262,144 surfaces are about 36 MiB). A tokenizer changed since (tokens added, a special token
    set) is read again.
    """
    fingerprint = _fingerprint(tokenizer)
    try:
        known = _READ.get(tokenizer)
    except TypeError:  # not weakly referenceable or not hashable: read it each time
        return _read_surfaces(tokenizer)
    if known is not None and known[0] == fingerprint:
        return known[1]
    surfaces = _read_surfaces(tokenizer)
    _READ[tokenizer] = (fingerprint, surfaces)
    return surfaces


def _read_surfaces(tokenizer: PreTrainedTokenizerBase) -> TokenSurfaces:
    scheme = detect_scheme(tokenizer)
    size = len(tokenizer)
    tokens: list[str | None] = list(tokenizer.convert_ids_to_tokens(list(range(size))))
    added = dict(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    special_ids = set(tokenizer.all_special_ids) | {i for i, tok in added.items() if tok.special}
    byte_table = _byte_decoder() if scheme.byte_level else None
    added_scheme = TokenScheme(space_marker=scheme.space_marker)
    surfaces: list[bytes] = []
    special = np.zeros(size, dtype=bool)
    byte_token = np.zeros(size, dtype=bool)
    for i, token in enumerate(tokens):
        if token is None or i in special_ids:
            special[i] = token is not None
            surfaces.append(b"")
        elif i in added:  # non-special added tokens are matched on raw (or normalised) text
            normalised = getattr(added[i], "normalized", False)
            surfaces.append(token_surface(token, added_scheme) if normalised else token.encode("utf-8"))
        else:
            byte_token[i] = scheme.byte_fallback and _BYTE_TOKEN.fullmatch(token) is not None
            surfaces.append(token_surface(token, scheme, byte_table))
    roles = {}
    for role in ROLES:
        role_id = getattr(tokenizer, f"{role}_token_id", None)
        if isinstance(role_id, int) and 0 <= role_id < size:
            roles[role] = role_id
    lengths = np.fromiter((len(s) for s in surfaces), dtype=np.int64, count=size)
    return TokenSurfaces(tuple(tokens), tuple(surfaces), lengths, special, byte_token, roles, scheme)
