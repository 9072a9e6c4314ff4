"""Batching: right padding with masked labels; length buckets cut padding and are seeded."""

import random

import torch

from fedmkt.training.batching import BucketedBatches, bucketed_order, collate
from fedmkt.training.encode import IGNORE_INDEX, EncodedExample


def _examples(lengths):
    return [EncodedExample(tuple(range(10, 10 + n)), tuple([IGNORE_INDEX] * (n - 1) + [9]), i)
            for i, n in enumerate(lengths)]


def test_collate_right_pads_and_masks_labels():
    batch = collate(_examples([3, 5]), pad_id=0)
    assert batch["input_ids"].tolist() == [[10, 11, 12, 0, 0], [10, 11, 12, 13, 14]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, -100, 9, -100, -100], [-100, -100, -100, -100, 9]]
    assert batch["index"].tolist() == [0, 1]


def test_bucketed_order_covers_everything_once_is_seeded_and_cuts_padding():
    rng = random.Random(0)
    lengths = [rng.randint(5, 200) for _ in range(256)]
    order = bucketed_order(lengths, batch_size=8, seed=1)
    assert sorted(i for batch in order for i in batch) == list(range(256))
    assert order == bucketed_order(lengths, batch_size=8, seed=1)
    assert order != bucketed_order(lengths, batch_size=8, seed=2)

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    shuffled = list(range(256))
    random.Random(1).shuffle(shuffled)
    plain = [shuffled[i:i + 8] for i in range(0, 256, 8)]
    assert padded(order) < 0.75 * padded(plain)


def test_bucketed_batches_epochs_differ_and_unshuffled_keeps_order():
    examples = _examples([4, 9, 2, 7, 5, 3, 8])
    batches = BucketedBatches(examples, batch_size=3, pad_id=0, seed=0)
    assert len(batches) == 3
    epoch0 = [b["index"].tolist() for b in batches.epoch(0)]
    assert epoch0 == [b["index"].tolist() for b in batches.epoch(0)]
    assert sorted(sum(epoch0, [])) == list(range(7))
    plain = BucketedBatches(examples, batch_size=3, pad_id=0, shuffle=False)
    assert [b["index"].tolist() for b in plain.epoch(5)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert all(isinstance(b["input_ids"], torch.Tensor) for b in plain.epoch(0))


def test_every_epoch_is_reshuffled_and_the_orders_are_fixed_by_the_seed():
    rng = random.Random(3)
    examples = _examples([rng.randint(2, 40) for _ in range(48)])

    def orders(seed):
        batches = BucketedBatches(examples, batch_size=4, pad_id=0, seed=seed, bucket_batches=2)
        return [[b["index"].tolist() for b in batches.epoch(epoch)] for epoch in range(4)]

    first = orders(seed=0)
    distinct = len({str(order) for order in first})
    assert distinct == 4, f"4 epochs but {distinct} distinct orders: the per-epoch reshuffle is gone"
    assert all(sorted(sum(order, [])) == list(range(48)) for order in first)  # each a permutation
    assert orders(seed=0) == first  # a fresh instance with the same seed repeats them
    assert orders(seed=1)[0] != first[0]
