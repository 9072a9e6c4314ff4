"""Percentile bootstrap confidence interval of a mean of per-example scores.

Test sets here are small (a few hundred items), so a point score alone hides how much of a
gap between two methods is noise. Resampling examples with replacement and taking the
2.5th and 97.5th percentiles of the resampled means gives the usual 95% interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    scores: Sequence[float], *, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """``(low, high)`` percentile interval of the mean of ``scores``; ``(nan, nan)`` when empty.

    Resamples in chunks so memory stays at about ``2**22`` indices whatever ``len(scores)``.
    Deterministic for a given ``seed``.
    """
    values = np.asarray(scores, dtype=np.float64)
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, (1 << 22) // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)
