"""TensorMemory counts exactly what ops allocate: known sizes, views free, frees subtract."""

import torch

from fedmkt.bench.tensor_memory import TensorMemory


def test_peak_is_the_largest_total_alive_at_once():
    with TensorMemory() as memory:
        a = torch.ones(1000)  # 4,000 bytes
        b = torch.ones(500)  # 2,000
        del a
        c = torch.ones(250)  # 1,000: a is gone, so the peak stays 6,000
    assert memory.peak == 6000
    assert memory.live == 3000  # b and c
    del b, c


def test_views_inplace_ops_and_earlier_tensors_cost_nothing():
    weight = torch.randn(64, 64)  # created before the block: not counted, nor are its views
    with TensorMemory() as memory:
        transposed = weight.t()
        weight.mul_(1.0)
        rows = weight[:8]
    assert memory.peak == 0
    del transposed, rows


def test_backward_is_counted_and_freed():
    x = torch.randn(128, 256, requires_grad=True)
    with TensorMemory() as memory:
        product = x * 2  # kept alive, so it and the gradient coexist
        product.sum().backward()
    assert memory.peak >= 2 * 128 * 256 * 4
    assert memory.live >= 2 * 128 * 256 * 4  # product and x.grad stay
    del product
