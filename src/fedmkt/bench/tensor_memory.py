"""Exact peak of tensor memory on any device, CPU included, by watching every op's outputs.

CPU torch keeps no allocator statistics, and sampling the resident set size misses short
peaks and sees the allocator's caching. Here a ``TorchDispatchMode`` sees each tensor an op
creates inside the block (forward and backward: autograd runs its ops through the mode too),
counts each new storage's bytes once, and a weak reference subtracts them when the storage
is freed. The figure is the largest total of live storages created in the block: the same
quantity ``torch.cuda.max_memory_allocated`` reports on a GPU, up to the caching allocator's
rounding. Views and in-place results share an input's storage, so they cost nothing, as in reality
(a view of a parameter, e.g. a transposed weight, is not new memory).
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorMemory(TorchDispatchMode):
    """Context manager: ``.peak`` is the largest number of bytes of tensors alive at once that ops
    created inside the block (tensors from before the block do not count); ``.live`` is what is
    still alive at exit."""

    kind = "tensors_exact"

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()
        self._refs: list[weakref.ref] = []

    def _freed(self, key: int, nbytes: int, _ref: object = None) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    @staticmethod
    def _key(tensor: torch.Tensor) -> int:
        storage = tensor.untyped_storage()
        return storage.data_ptr() or id(storage)

    def _count(self, tensor: torch.Tensor, inputs: set[int]) -> None:
        storage = tensor.untyped_storage()
        key = self._key(tensor)
        if key in self._seen or key in inputs or storage.nbytes() == 0:  # counted, or a view/in-place result
            return
        nbytes = storage.nbytes()
        self._seen.add(key)
        self._refs.append(weakref.ref(storage, partial(self._freed, key, nbytes)))
        self.live += nbytes
        self.peak = max(self.peak, self.live)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and not t.is_meta]
        inputs = {self._key(t) for t in tensors}
        out = func(*args, **(kwargs or {}))
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor) and not value.is_meta:
                self._count(value, inputs)
        return out
