"""Tiny models here train on one torch thread (tests/torch_threads.py)."""

from torch_threads import one_torch_thread  # noqa: F401  (an autouse fixture: imported, it applies to this package)
