"""Cross-tokenizer alignment (paper: MinED): vocabulary maps, sequence alignment, top-k remapping.

Typical use on the receiving side of a federated exchange::

    aligner = Aligner.from_tokenizers(teacher_tokenizer, student_tokenizer, cache_folder)
    rows = aligner.align_topk(uid, teacher_ids, student_ids, student_positions,
                              teacher_positions, teacher_topk_ids, teacher_topk_probs)
"""

from fedmkt.core.alignment.aligner import Aligner
from fedmkt.core.alignment.cache import cached_vocab_map, vocab_map_key
from fedmkt.core.alignment.markers import (
    NORMALISATION_VERSION,
    TokenScheme,
    TokenSurfaces,
    detect_scheme,
    token_surfaces,
)
from fedmkt.core.alignment.remap import (
    AlignedTopK,
    align_topk,
    gather_topk,
    one_hot_topk,
    remap_topk,
    teacher_rows,
)
from fedmkt.core.alignment.sequence import SequenceAlignment, align_sequences, real_tokens
from fedmkt.core.alignment.vocab_map import (
    CoverageStats,
    VocabMap,
    build_vocab_map,
    nearest_by_edit_distance,
)

__all__ = [
    "NORMALISATION_VERSION",
    "AlignedTopK",
    "Aligner",
    "CoverageStats",
    "SequenceAlignment",
    "TokenScheme",
    "TokenSurfaces",
    "VocabMap",
    "align_sequences",
    "align_topk",
    "build_vocab_map",
    "cached_vocab_map",
    "detect_scheme",
    "gather_topk",
    "nearest_by_edit_distance",
    "one_hot_topk",
    "real_tokens",
    "remap_topk",
    "teacher_rows",
    "token_surfaces",
    "vocab_map_key",
]
