"""Surfaces are read from each tokenizer's own pipeline and reproduce the text."""

from __future__ import annotations

import pytest

from fedmkt.core.alignment import TokenScheme, detect_scheme
from fedmkt.core.alignment.markers import scheme_from_json, token_surface

from .tokenizer_kinds import TRICKY


def test_schemes_are_read_from_the_pipeline(tokenizers_by_kind):
    assert detect_scheme(tokenizers_by_kind["byte_bpe"]) == TokenScheme(byte_level=True)
    assert detect_scheme(tokenizers_by_kind["unigram"]) == TokenScheme(space_marker="▁", byte_fallback=True)
    assert detect_scheme(tokenizers_by_kind["wordpiece"]) == TokenScheme(continuation_prefix="##")
    assert detect_scheme(tokenizers_by_kind["gemma_bpe"]) == TokenScheme(space_marker="▁", byte_fallback=True)


def test_marker_from_a_normalizer_replace():
    spec = {
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "model": {"type": "BPE"},
    }
    assert scheme_from_json(spec).space_marker == "▁"


@pytest.mark.parametrize(
    ("token", "scheme", "surface"),
    [
        ("Ġhello", TokenScheme(byte_level=True), b" hello"),
        ("Ċ", TokenScheme(byte_level=True), b"\n"),
        ("Ã©", TokenScheme(byte_level=True), "é".encode()),
        ("æ", TokenScheme(byte_level=True), b"\xe6"),  # first byte of a CJK character
        ("▁the", TokenScheme(space_marker="▁", byte_fallback=True), b" the"),
        ("<0x0A>", TokenScheme(space_marker="▁", byte_fallback=True), b"\n"),
        ("<0xE6>", TokenScheme(space_marker="▁", byte_fallback=True), b"\xe6"),
        ("<0x0A>", TokenScheme(space_marker="▁"), b"<0x0A>"),  # no byte fallback: literal text
        ("##ing", TokenScheme(continuation_prefix="##"), b"ing"),
        ("hello", TokenScheme(continuation_prefix="##"), b" hello"),
    ],
)
def test_token_surface(token, scheme, surface):
    assert token_surface(token, scheme) == surface


@pytest.mark.parametrize("kind", ["byte_bpe", "gemma_bpe"])
@pytest.mark.parametrize("text", TRICKY)
def test_surfaces_concatenate_to_the_text(tokenizers_by_kind, surfaces_by_kind, kind, text):
    """Lossless tokenizers: the surfaces of the ids are exactly the text's UTF-8 bytes."""
    tok, surfaces = tokenizers_by_kind[kind], surfaces_by_kind[kind]
    ids = tok(text)["input_ids"]
    assert b"".join(surfaces.surfaces[i] for i in ids) == text.encode()


def test_special_tokens_carry_no_text(tokenizers_by_kind, surfaces_by_kind):
    for kind, tok in tokenizers_by_kind.items():
        surfaces = surfaces_by_kind[kind]
        for special in tok.all_special_ids:
            assert surfaces.special[special] and surfaces.surfaces[special] == b"", kind
        assert surfaces.roles["eos"] == tok.eos_token_id
        assert surfaces.special_key(tok.eos_token_id) == "eos"


def test_byte_fallback_pieces_are_flagged(surfaces_by_kind):
    unigram = surfaces_by_kind["unigram"]
    flagged = [unigram.tokens[i] for i, flag in enumerate(unigram.byte_token) if flag]
    assert len(flagged) == 256 and all(t.startswith("<0x") for t in flagged)
    assert not surfaces_by_kind["byte_bpe"].byte_token.any()


def test_digest_tells_vocabularies_apart(tokenizers_by_kind, surfaces_by_kind):
    from fedmkt.core.alignment import token_surfaces

    digests = {s.digest for s in surfaces_by_kind.values()}
    assert len(digests) == len(surfaces_by_kind)
    assert token_surfaces(tokenizers_by_kind["unigram"]).digest == surfaces_by_kind["unigram"].digest


def test_a_tokenizer_is_read_once_and_every_aligner_over_it_shares_its_surfaces(tokenizers_by_kind, tmp_path):
    """Many clients of one model align with the server through the same two tokenizers: one copy of each
    tokenizer's surfaces (Gemma-3's are about 36 MiB), not one per aligner and direction."""
    from fedmkt.core.alignment import Aligner
    from fedmkt.core.alignment.markers import _read_surfaces, token_surfaces

    kinds = sorted(tokenizers_by_kind)
    a, b = tokenizers_by_kind[kinds[0]], tokenizers_by_kind[kinds[1]]
    first = token_surfaces(a)
    assert token_surfaces(a) is first
    fresh = _read_surfaces(a)
    assert first.surfaces == fresh.surfaces and first.tokens == fresh.tokens and first.digest == fresh.digest
    one, other, back = (Aligner.from_tokenizers(a, b, tmp_path), Aligner.from_tokenizers(a, b, tmp_path),
                        Aligner.from_tokenizers(b, a, tmp_path))
    assert one.source is other.source is back.target is first
    assert one.target is other.target is back.source


def test_a_tokenizer_changed_since_it_was_read_is_read_again(tokenizers_by_kind):
    import copy

    from fedmkt.core.alignment.markers import token_surfaces

    tokenizer = copy.deepcopy(tokenizers_by_kind[sorted(tokenizers_by_kind)[0]])  # the session's stays as it is
    before = token_surfaces(tokenizer)
    tokenizer.add_tokens(["zzqxnewtoken"])
    after = token_surfaces(tokenizer)
    assert len(after) == len(before) + 1 and after.surfaces[-1] == b"zzqxnewtoken"
    tokenizer.add_special_tokens({"additional_special_tokens": ["<probe>"]})
    specials = token_surfaces(tokenizer)
    assert specials is not after and specials.special[-1] and specials.surfaces[-1] == b""
