"""Freed heap memory goes back to the system between a phase's steps."""

from __future__ import annotations

import sys

import psutil
import pytest
import torch

from fedmkt.runners.heap import _libc, trim_heap


@pytest.mark.skipif(not sys.platform.startswith("linux") or _libc() is None, reason="glibc's malloc_trim only")
def test_memory_a_step_freed_leaves_the_resident_set():
    process = psutil.Process()
    trim_heap()
    before = process.memory_info().rss
    chunks = [torch.ones(16_000) for _ in range(4000)]  # 64 KB each: below malloc's mmap threshold, ~250 MB
    grown = process.memory_info().rss
    assert grown - before > 150 * 2**20
    last = chunks[-1]  # alive above the rest, as a step's result is: free() alone cannot shrink the heap
    del chunks
    assert process.memory_info().rss > before + (grown - before) // 2  # freed, yet kept by the allocator
    trim_heap()
    assert process.memory_info().rss < before + (grown - before) // 4
    assert last.sum() == 16_000
