"""Tiny models train ~20x faster on one thread (two threads mostly synchronise, worse on a busy machine).

The fixture is shared by the conftests of the packages whose tests train tiny models (core, training,
privacy): each imports it, so it is autouse there and nowhere else.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
