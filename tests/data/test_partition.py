"""make_federated_split: disjoint sets of the asked sizes, seeded, with a measurable Dirichlet skew."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fedmkt.data.example import Example
from fedmkt.data.partition import FederatedSplit, make_federated_split
from fedmkt.errors import FedMKTError


def pool(n: int, prefix: str = "train", groups: tuple[str, ...] = ("a", "b", "c", "d")) -> list[Example]:
    return [
        Example(uid=f"{prefix}/{i:04d}", prompt=f"q{i}", target=" x", group=groups[i % len(groups)])
        for i in range(n)
    ]


def all_uids(split: FederatedSplit) -> list[str]:
    parts = [split.public, split.eval, split.dev, *split.private]
    return [e.uid for part in parts for e in part]


def tv_from_pool(split: FederatedSplit, reference: list[Example]) -> float:
    """Mean total-variation distance between each client's group mix and the pool's."""
    ref = Counter(e.group for e in reference)
    total = sum(ref.values())
    distances = []
    for counts in split.client_groups():
        n = sum(counts.values())
        distances.append(0.5 * sum(abs(counts.get(g, 0) / n - ref[g] / total) for g in ref))
    return sum(distances) / len(distances)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet"])
def test_sets_are_disjoint_and_have_the_asked_sizes(scheme):
    split = make_federated_split(
        pool(500), pool(100, "eval"), n_clients=3, public_size=50, private_size=80,
        eval_size=40, scheme=scheme, alpha=0.3, seed=1, dev_size=20,
    )  # fmt: skip
    assert split.sizes() == {"public": 50, "private": [80, 80, 80], "eval": 40, "dev": 20}
    uids = all_uids(split)
    assert len(uids) == len(set(uids))
    assert all(e.uid.startswith("eval/") for e in split.eval)
    trained_on = [e for part in (split.public, split.dev, *split.private) for e in part]
    assert all(e.uid.startswith("train/") for e in trained_on)


def test_same_seed_same_split_and_other_seeds_differ():
    args = dict(n_clients=2, public_size=30, private_size=30, eval_size=20, scheme="dirichlet", alpha=0.5)
    a = make_federated_split(pool(200), pool(50, "eval"), seed=7, **args)
    b = make_federated_split(pool(200), pool(50, "eval"), seed=7, **args)
    c = make_federated_split(pool(200), pool(50, "eval"), seed=8, **args)
    assert a == b
    assert [e.uid for e in a.public] != [e.uid for e in c.public]
    assert [e.uid for e in a.eval] != [e.uid for e in c.eval]


def test_input_order_does_not_matter():
    train, evals = pool(200), pool(50, "eval")
    shuffled = train[:]
    random.Random(0).shuffle(shuffled)
    args = dict(n_clients=2, public_size=30, private_size=30, eval_size=20, scheme="iid", alpha=1.0, seed=3)
    assert make_federated_split(train, evals, **args) == make_federated_split(shuffled, evals[::-1], **args)


def test_eval_set_does_not_depend_on_the_training_sizes():
    small = make_federated_split(pool(300), pool(80, "eval"), 2, 10, 10, 30, "iid", 1.0, seed=5)
    large = make_federated_split(pool(300), pool(80, "eval"), 4, 50, 40, 30, "dirichlet", 0.1, seed=5)
    assert small.eval == large.eval


def test_unset_sizes_give_the_reference_fifths_with_four_clients():
    split = make_federated_split(pool(1000), pool(100, "eval"), 4, None, None, None, "iid", 1.0, seed=0)
    assert split.sizes() == {"public": 200, "private": [200] * 4, "eval": 100, "dev": 0}
    with_dev = make_federated_split(
        pool(1000), pool(100, "eval"), 4, None, None, 10, "iid", 1.0, 0, dev_size=50
    )
    assert with_dev.sizes() == {"public": 190, "private": [190] * 4, "eval": 10, "dev": 50}


def test_one_unset_size_takes_what_is_left():
    split = make_federated_split(pool(100), pool(10, "eval"), 3, 40, None, 5, "iid", 1.0, seed=0)
    assert split.sizes()["private"] == [20, 20, 20]
    split = make_federated_split(pool(100), pool(10, "eval"), 3, None, 10, 5, "iid", 1.0, seed=0)
    assert split.sizes()["public"] == 70


def test_one_pool_for_train_and_eval_carves_the_eval_set_out_first():
    one = pool(277)  # like RTE: the validation rows are the only labelled data
    split = make_federated_split(one, one, 4, None, None, None, "iid", 1.0, seed=0)
    assert split.sizes() == {"public": 46, "private": [46] * 4, "eval": 46, "dev": 0}
    uids = all_uids(split)
    assert len(uids) == len(set(uids))
    split = make_federated_split(one, one, 4, None, None, 77, "iid", 1.0, seed=0)
    assert split.sizes() == {"public": 40, "private": [40] * 4, "eval": 77, "dev": 0}
    trained_on = {e.uid for part in (split.public, *split.private) for e in part}
    assert not {e.uid for e in split.eval} & trained_on


def test_dirichlet_skews_the_clients_group_mix_and_large_alpha_approaches_iid():
    train = pool(4000, groups=tuple("abcdefgh"))
    common = dict(n_clients=4, public_size=100, private_size=400, eval_size=10)
    iid = make_federated_split(train, pool(10, "eval"), scheme="iid", alpha=1.0, seed=0, **common)
    skewed = make_federated_split(train, pool(10, "eval"), scheme="dirichlet", alpha=0.1, seed=0, **common)
    flat = make_federated_split(train, pool(10, "eval"), scheme="dirichlet", alpha=1000.0, seed=0, **common)
    assert tv_from_pool(iid, train) < 0.1
    assert tv_from_pool(flat, train) < 0.1
    assert tv_from_pool(skewed, train) > 0.4
    # each client is dominated by a few groups, and clients differ from each other
    top = [max(c.values()) / sum(c.values()) for c in skewed.client_groups()]
    assert min(top) > 0.3
    assert len({max(c, key=c.get) for c in skewed.client_groups()}) > 1


def test_dirichlet_falls_back_to_what_is_left_when_a_clients_groups_run_out():
    train = pool(40, groups=("rare",)) + pool(400, "more", groups=("common",))
    split = make_federated_split(train, pool(5, "eval"), 2, 0, 200, 5, "dirichlet", 0.01, seed=2)
    assert split.sizes()["private"] == [200, 200]
    uids = all_uids(split)
    assert len(uids) == len(set(uids))


def test_not_enough_data_says_how_many_are_available_and_requested():
    with pytest.raises(FedMKTError, match=r"= 450 examples requested, 300 available"):
        make_federated_split(pool(300), pool(10, "eval"), 4, 50, 100, 5, "iid", 1.0, seed=0)
    with pytest.raises(FedMKTError, match=r"eval_size 20 requested, 10 available"):
        make_federated_split(pool(300), pool(10, "eval"), 4, 50, 50, 20, "iid", 1.0, seed=0)
    with pytest.raises(
        FedMKTError, match="not enough data: 3 examples, 0 taken by the given sizes, cannot give each of 5"
    ):
        make_federated_split(pool(3), pool(10, "eval"), 4, None, None, 5, "iid", 1.0, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "random"}, "scheme: expected 'iid' or 'dirichlet'"),
        ({"alpha": 0.0}, "alpha: the Dirichlet concentration must be > 0"),
        ({"n_clients": -1}, "n_clients: expected 0 or more"),
        ({"private_size": 0}, "private_size: expected a positive number"),
        ({"dev_size": -1}, "dev_size: expected 0 or more"),
        ({"seed": -3}, "seed: expected 0 or more"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    args = dict(n_clients=2, public_size=5, private_size=5, eval_size=5, scheme="iid", alpha=1.0, seed=0)
    args.update(kwargs)
    with pytest.raises(FedMKTError, match=message):
        make_federated_split(pool(100), pool(10, "eval"), **args)


def test_duplicate_uids_are_rejected():
    train = pool(10) + pool(1)
    with pytest.raises(FedMKTError, match="train pool: uid 'train/0000' appears twice"):
        make_federated_split(train, pool(5, "eval"), 1, 1, 1, 1, "iid", 1.0, seed=0)
