"""``fedmkt align``: build (or load from the cache) a vocabulary map and show how good it is.

The map is what MinED uses to carry one model's top-k token ids into another model's
vocabulary; ``--out`` writes it as ``{source_token: target_token}`` JSON for inspection.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from fedmkt.core.alignment import TokenSurfaces, VocabMap


def sample_ids(vocab_map: VocabMap, count: int) -> list[int]:
    """Evenly spaced source ids, half exact matches and half edit-distance matches (deterministic)."""
    from fedmkt.core.alignment.vocab_map import EDIT, EXACT

    picked: list[int] = []
    for kind, share in ((EXACT, count - count // 2), (EDIT, count // 2)):
        ids = np.flatnonzero(vocab_map.kind == kind)
        if ids.size and share:
            picked += ids[np.linspace(0, ids.size - 1, min(share, ids.size)).astype(int)].tolist()
    return sorted(set(picked))


def write_token_json(path: Path, vocab_map: VocabMap, source: TokenSurfaces, target: TokenSurfaces) -> None:
    """``{source_token: target_token}`` as UTF-8 JSON, one pair per line, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(vocab_map.token_dict(source, target), handle, ensure_ascii=False, indent=0)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def align(
    model_a: Annotated[str, typer.Option("--model-a", help="Source tokenizer: folder or short name.")],
    model_b: Annotated[str, typer.Option("--model-b", help="Target tokenizer: folder or short name.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the map as {source_token: target_token} JSON.")
    ] = None,
    samples: Annotated[int, typer.Option(help="How many example pairs to print.", min=0)] = 12,
    workers: Annotated[int, typer.Option(help="Threads for the edit-distance search (-1: all cores).")] = -1,
) -> None:
    """Build or load the A -> B vocabulary map and print its coverage and a sample."""
    from fedmkt.core.alignment import cached_vocab_map, token_surfaces
    from fedmkt.models.loading import load_tokenizer
    from fedmkt.setup.roles import default_alignment_cache

    console = Console()
    source = token_surfaces(load_tokenizer(model_a))
    target = token_surfaces(load_tokenizer(model_b))
    start = time.perf_counter()
    vocab_map, hit = cached_vocab_map(source, target, default_alignment_cache(), workers=workers)
    seconds = time.perf_counter() - start
    stats = vocab_map.coverage()
    how = "loaded from cache" if hit else f"built in {seconds:.1f} s"
    console.print(
        f"[bold]{model_a}[/] ({stats.source_size} ids) -> [bold]{model_b}[/] "
        f"({stats.target_size} ids): {how}, key {vocab_map.key}"
    )
    table = Table("exact", "role (special)", "edit distance", "unmapped", "mean distance", "max distance")
    share = max(stats.source_size, 1)
    table.add_row(
        f"{stats.exact} ({stats.exact / share:.1%})",
        str(stats.role),
        f"{stats.edit} ({stats.edit / share:.1%})",
        str(stats.unmapped),
        f"{stats.mean_distance:.2f}",
        str(stats.max_distance),
    )
    console.print(table)
    if samples:
        pairs = Table("source id", "source token", "target id", "target token", "distance")
        for i in sample_ids(vocab_map, samples):
            j = int(vocab_map.target_ids[i])
            pairs.add_row(
                str(i), repr(source.tokens[i]), str(j), repr(target.tokens[j]), str(vocab_map.distance[i])
            )
        console.print(pairs)
    if out is not None:
        write_token_json(out, vocab_map, source, target)
        console.print(f"wrote {out}")
