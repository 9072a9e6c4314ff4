"""A domain federation's split: each domain split among the clients that hold it, the union disjoint."""

from __future__ import annotations

import pytest

from fedmkt.data.domains import DomainPools, DomainShort, make_domain_split
from fedmkt.data.example import Example
from fedmkt.data.partition import make_federated_split
from fedmkt.data.tasks import get_task
from fedmkt.errors import FedMKTError


def _pools(name: str, public: int | None = 10, private: int | None = 12, eval_: int | None = 15) -> DomainPools:
    task = get_task(name)
    return DomainPools(name, task.load("train"), task.load("test"), public, private, eval_)


def _uids(examples: list[Example]) -> list[str]:
    return [e.uid for e in examples]


def test_each_domain_draws_what_a_one_task_run_of_it_would_draw():
    """Same sizes and seed: the same eval questions, public share and private chunks as the one-task split."""
    qa, gen = _pools("tiny_qa"), _pools("tiny_gen", public=6, private=9)
    split = make_domain_split([qa, gen], [[0], [1], [0, 1]], seed=3)
    alone_qa = make_federated_split(qa.train, qa.eval_pool, n_clients=2, public_size=10, private_size=12,
                                    eval_size=15, seed=3)
    alone_gen = make_federated_split(gen.train, gen.eval_pool, n_clients=2, public_size=6, private_size=9,
                                     eval_size=15, seed=3)
    assert _uids(split.domains[0].split.eval) == _uids(alone_qa.eval)
    assert _uids(split.domains[1].split.public) == _uids(alone_gen.public)
    assert split.domains[0].holders == (0, 2) and split.domains[1].holders == (1, 2)
    # client 3 holds both domains: its private data is its chunk of each, in domain order
    assert _uids(split.private[2]) == _uids(alone_qa.private[1]) + _uids(alone_gen.private[1])
    assert _uids(split.private[0]) == _uids(alone_qa.private[0]) and _uids(split.private[1]) == _uids(
        alone_gen.private[0])
    assert _uids(split.public) == _uids(alone_qa.public) + _uids(alone_gen.public)
    assert list(split.eval_sets("ignored")) == ["tiny_qa", "tiny_gen"]
    assert split.sizes() == {"public": 16, "private": [12, 9, 21], "eval": 30, "dev": 0}


def test_the_parts_are_disjoint_and_a_domain_no_client_holds_gives_public_and_eval_only():
    split = make_domain_split([_pools("tiny_qa"), _pools("tiny_gen", private=None)], [[0], [0]], dev_size=4)
    unheld = split.domains[1].split
    assert unheld.private == [] and len(unheld.public) == 10 and len(unheld.eval) == 15 and len(unheld.dev) == 4
    parts = [split.public, split.eval, split.dev, *split.private]
    seen = [uid for part in parts for uid in _uids(part)]
    assert len(seen) == len(set(seen))
    assert all(e.uid.startswith("tiny_qa/") for p in split.private for e in p)  # nobody holds tiny_gen's data


def test_a_domain_that_cannot_give_its_sizes_is_named():
    with pytest.raises(DomainShort) as info:
        make_domain_split([_pools("tiny_qa"), _pools("tiny_gen", private=200)], [[0, 1], [1]])
    assert (info.value.index, info.value.label, info.value.requested, info.value.available) == (1, "tiny_gen", 410,
                                                                                                   400)


def test_two_domains_with_the_same_examples_are_refused():
    qa = _pools("tiny_qa")
    twin = DomainPools("copy", qa.train, qa.eval_pool, 10, 12, 15)
    with pytest.raises(FedMKTError, match="domains 'tiny_qa' and 'copy' both hold uid"):
        make_domain_split([qa, twin], [[0], [1]])
