"""Wire schema: exact round trips, compact sizes, and a one-line rejection for every kind of bad message."""

import dataclasses
import json
import struct

import numpy as np
import pytest
import safetensors.numpy
import torch

from fedmkt.core.message_checks import max_message_bytes, receive, validate
from fedmkt.core.messages import (
    SCHEMA_VERSION,
    DistributionMessage,
    MessageRejected,
    SampleDistributions,
    decode,
    encode,
    message_nbytes,
    pack_samples,
    wire_id_dtype,
)
from fedmkt.core.topk import answer_nll, topk_distribution
from fedmkt.errors import FedMKTError

SMALL_VOCAB, BIG_VOCAB = 49_152, 262_144


def _sample(uid, n_pos, k, vocab, rng):
    """A top-k row set as ``topk_distribution`` would give: distinct ids, descending probs, mass <= 1."""
    ids = np.array([rng.choice(vocab, size=k, replace=False) for _ in range(n_pos)]).reshape(n_pos, k)
    weights = -np.sort(-rng.exponential(size=(n_pos, k)), axis=1)
    probs = weights / weights.sum(1, keepdims=True) * rng.uniform(0.5, 1.0, size=(n_pos, 1))
    return SampleDistributions.from_tensors(
        uid, torch.from_numpy(ids), torch.from_numpy(probs), float(rng.uniform(0.5, 9.0)), vocab
    )


def _message(vocab=SMALL_VOCAB, k=8, positions=None, sender="client-1", round=2, seed=0):
    positions = {"a": 3, "b": 1, "c": 4} if positions is None else positions
    rng = np.random.default_rng(seed)
    samples = [_sample(uid, n, min(k, vocab), vocab, rng) for uid, n in positions.items()]
    message = DistributionMessage(SCHEMA_VERSION, sender, round, vocab, k, samples)
    return message, positions


def _check(message, positions, **kw):
    kw = {"vocab_size": message.vocab_size, "top_k": message.top_k} | kw
    validate(message, expected_positions=positions, **kw)


def _with_sample(message, index, **changes):
    samples = list(message.samples)
    samples[index] = dataclasses.replace(samples[index], **changes)
    return dataclasses.replace(message, samples=samples)


def _assert_same(a, b):
    assert (a.schema_version, a.sender, a.round, a.vocab_size, a.top_k) == (
        b.schema_version,
        b.sender,
        b.round,
        b.vocab_size,
        b.top_k,
    )
    assert [s.uid for s in a.samples] == [s.uid for s in b.samples]
    for x, y in zip(a.samples, b.samples, strict=True):
        assert x.token_ids.dtype == y.token_ids.dtype and np.array_equal(x.token_ids, y.token_ids)
        assert x.probs.dtype == y.probs.dtype == np.float16 and np.array_equal(x.probs, y.probs)
        assert x.nll == pytest.approx(y.nll, rel=1e-7)


@pytest.mark.parametrize("vocab, dtype", [(200, np.uint8), (SMALL_VOCAB, np.uint16), (BIG_VOCAB, np.int32)])
def test_round_trip_preserves_everything_in_the_smallest_id_type(vocab, dtype):
    message, positions = _message(vocab=vocab)
    data = encode(message)
    back = decode(data)
    _assert_same(message, back)
    assert back.samples[0].token_ids.dtype == dtype
    _check(back, positions)
    assert (
        receive(
            data, expected_positions=positions, vocab_size=vocab, top_k=8, sender="client-1", round=2
        ).nll_by_uid()
        == back.nll_by_uid()
    )
    assert message_nbytes(message) == len(data)
    assert back.samples[0].ids_tensor().dtype == torch.int64
    assert back.samples[0].probs_tensor().dtype == torch.float32


def test_empty_message_and_zero_position_sample_round_trip():
    empty = DistributionMessage(SCHEMA_VERSION, "server", 0, SMALL_VOCAB, 8, [])
    _assert_same(empty, decode(encode(empty)))
    message, positions = _message(positions={"a": 0, "b": 2})
    back = decode(encode(message))
    _assert_same(message, back)
    assert back.samples[0].token_ids.shape == (0, 8)
    _check(back, positions)


def test_k_larger_than_the_vocabulary_means_vocabulary_wide_rows():
    message, positions = _message(vocab=20, k=128)
    assert message.samples[0].token_ids.shape == (3, 20)
    _check(decode(encode(message)), positions)


@pytest.mark.parametrize(
    "vocab, expected",
    [
        (1, np.uint8),
        (256, np.uint8),
        (257, np.uint16),
        (65_536, np.uint16),
        (65_537, np.int32),
        (BIG_VOCAB, np.int32),
    ],
)
def test_wire_id_dtype_is_the_smallest_that_fits(vocab, expected):
    assert wire_id_dtype(vocab) == expected
    assert np.iinfo(wire_id_dtype(vocab)).max >= vocab - 1


def test_pack_samples_splits_a_batch_into_per_sample_entries():
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.standard_normal((6, 300)).astype(np.float32))
    sample_index = torch.tensor([0, 0, 2, 2, 2, 2])  # sample 1 has no scored position
    next_ids = torch.tensor([5, 6, 7, 8, 9, 10])
    ids, probs = topk_distribution(logits, k=4)
    nll = answer_nll(logits, next_ids, sample_index, n_samples=3)
    samples = pack_samples(["x", "y", "z"], ids, probs, nll, sample_index, vocab_size=300)
    assert [s.n_positions for s in samples] == [2, 0, 4]
    assert np.array_equal(samples[2].token_ids, ids[2:].numpy()) and samples[2].token_ids.dtype == np.uint16
    message = DistributionMessage(SCHEMA_VERSION, "c", 0, 300, 4, samples)
    received = receive(encode(message), expected_positions={"x": 2, "y": 0, "z": 4}, vocab_size=300, top_k=4)
    assert received.nll_by_uid()["z"] == pytest.approx(float(nll[2]))
    with pytest.raises(FedMKTError, match="non-decreasing"):
        pack_samples(["x", "y", "z"], ids, probs, nll, sample_index.flip(0), vocab_size=300)


def _tampered():
    """(name, message builder, expected words in the reason) for each bad content field."""
    big = lambda: _message(vocab=BIG_VOCAB)[0]  # noqa: E731
    small = lambda: _message()[0]  # noqa: E731

    def ids_set(message, value, row=0, col=0):
        ids = message.samples[1].token_ids.copy()
        ids[row, col] = value
        return _with_sample(message, 1, token_ids=ids)

    def probs_set(message, value, row=0, col=0):
        probs = message.samples[1].probs.copy()
        probs[row, col] = value
        return _with_sample(message, 1, probs=probs)

    s0 = lambda m: m.samples[0]  # noqa: E731
    return [
        ("wrong schema version", lambda: dataclasses.replace(small(), schema_version=2), "schema_version"),
        ("wrong k", lambda: _message(k=4)[0], "top_k"),
        (
            "rows with a wrong k",
            lambda: _with_sample(
                small(),
                1,
                token_ids=s0(small()).token_ids[:1, :4].copy(),
                probs=s0(small()).probs[:1, :4].copy(),
            ),
            "shape",
        ),
        (
            "wrong n_pos",
            lambda: _with_sample(
                small(), 0, token_ids=s0(small()).token_ids[:2], probs=s0(small()).probs[:2]
            ),
            "shape (2, 8), expected (3, 8)",
        ),
        ("probs shape differs", lambda: _with_sample(small(), 0, probs=s0(small()).probs[:2]), "probs shape"),
        ("id out of range (uint16)", lambda: ids_set(small(), SMALL_VOCAB), "outside [0, 49152)"),
        ("id out of range (int32)", lambda: ids_set(big(), BIG_VOCAB + 5), "outside"),
        ("negative id (int32)", lambda: ids_set(big(), -1), "range [-1"),
        (
            "ids int64",
            lambda: _with_sample(small(), 1, token_ids=s0(small()).token_ids.astype(np.int64)),
            "token_ids dtype int64, expected uint16",
        ),
        (
            "probs float32",
            lambda: _with_sample(small(), 1, probs=s0(small()).probs.astype(np.float32)),
            "probs dtype float32",
        ),
        ("NaN prob", lambda: probs_set(small(), np.nan), "NaN"),
        ("inf prob", lambda: probs_set(small(), np.inf), "NaN or inf"),
        ("negative prob", lambda: probs_set(small(), -0.25, col=3), "negative"),
        ("row sum above 1", lambda: probs_set(small(), 0.9, col=5), "row sums"),
        (
            "zero row",
            lambda: _with_sample(small(), 1, probs=np.zeros_like(s0(small()).probs[:1])),
            "row sums",
        ),
        ("NaN nll", lambda: _with_sample(small(), 2, nll=float("nan")), "nll nan"),
        ("negative nll", lambda: _with_sample(small(), 2, nll=-1.0), "nll -1.0"),
        ("unknown uid", lambda: _with_sample(small(), 1, uid="zz"), "'zz': unknown uid"),
        (
            "duplicate uid",
            lambda: dataclasses.replace(small(), samples=[*small().samples, small().samples[0]]),
            "'a': duplicated uid",
        ),
        (
            "missing uid",
            lambda: dataclasses.replace(small(), samples=small().samples[:2]),
            "1 of 3 public samples",
        ),
        ("wrong vocab", lambda: dataclasses.replace(small(), vocab_size=50_000), "vocab_size 50000"),
    ]


ENCODE_FIXES = ("rows with a wrong k", "probs shape differs", "ids int64", "probs float32")


@pytest.mark.parametrize("name, build, words", _tampered(), ids=[t[0] for t in _tampered()])
def test_every_bad_field_is_rejected_on_receipt_with_a_one_line_reason(name, build, words):
    message = build()
    expected = {"a": 3, "b": 1, "c": 4}
    vocab = BIG_VOCAB if "int32" in name else SMALL_VOCAB
    # encode refuses rows of mixed k and writes the wire dtypes, so those only reach validate
    checks = ("validate",) if name in ENCODE_FIXES else ("validate", "receive")
    for check in checks:
        with pytest.raises(MessageRejected) as caught:
            if check == "validate":
                validate(message, expected_positions=expected, vocab_size=vocab, top_k=8)
            else:
                receive(encode(message), expected_positions=expected, vocab_size=vocab, top_k=8)
        reason = str(caught.value)
        assert words in reason, reason
        assert "\n" not in reason and "client-1" in reason and caught.value.sender == "client-1"
    if name not in ("wrong k", "wrong vocab", "wrong schema version", "missing uid"):
        assert "sample '" in reason  # names the sample


def test_stale_round_and_wrong_sender_are_rejected():
    message, positions = _message()
    with pytest.raises(MessageRejected, match="round 2, expected 3"):
        _check(message, positions, round=3)
    with pytest.raises(MessageRejected, match="sender 'client-1', expected 'client-2'"):
        _check(message, positions, sender="client-2")


def test_row_sums_slightly_over_one_from_fp16_rounding_are_accepted():
    message, positions = _message(vocab=300, k=300)  # rows hold the full distribution
    sums = [s.probs.astype(np.float32).sum(1) for s in message.samples]
    assert max(float(np.abs(row - 1).max()) for row in sums) > 0  # fp16 rounding is visible
    _check(decode(encode(message)), positions)


def test_garbage_truncated_and_malformed_bytes_are_rejected_never_crash():
    message, positions = _message()
    data = encode(message)
    kw = dict(expected_positions=positions, vocab_size=SMALL_VOCAB, top_k=8)
    bad = [
        b"",
        b"\x00" * 7,
        np.random.default_rng(0).bytes(len(data)),
        data[: len(data) // 2],
        data[:9],
        data[:-1],
        b"\xff" * 64,
        "not bytes",
    ]
    for blob in bad:
        with pytest.raises(MessageRejected):
            receive(blob, **kw)
    header_len = struct.unpack("<Q", data[:8])[0]
    for cut in range(0, header_len + 8, 7):  # every kind of truncation inside the header
        with pytest.raises(MessageRejected, match="truncated|undecodable"):
            decode(data[:cut])


def _raw(tensors, header):
    return safetensors.numpy.save(tensors, metadata={"fedmkt": json.dumps(header)})


def test_structurally_inconsistent_payloads_are_rejected():
    header = {"schema_version": 1, "sender": "c", "round": 0, "vocab_size": 300, "top_k": 2, "uids": ["a"]}
    good = {
        "token_ids": np.zeros((2, 2), np.uint16),
        "probs": np.full((2, 2), 0.25, np.float16),
        "n_positions": np.array([2], np.int32),
        "nll": np.array([1.0], np.float32),
    }
    decode(_raw(good, header))
    cases = [
        (good | {"n_positions": np.array([3], np.int32)}, header, "sum to 3"),
        (good | {"n_positions": np.array([2], np.int64)}, header, "expected int32"),
        (good | {"nll": np.array([1.0, 2.0], np.float32)}, header, "one per uid"),
        ({k: v for k, v in good.items() if k != "nll"}, header, "tensors"),
        (good | {"probs": np.full((2, 3), 0.25, np.float16)}, header, r"one \(rows, k\) shape"),
        (good, header | {"schema_version": 7}, "schema_version 7"),
        (good, header | {"round": "1"}, "round must be an integer"),
        (good, header | {"uids": "a"}, "uids"),
        (good, header | {"sender": ""}, "sender"),
        (good, header | {"sender": "x" * 1000}, "sender"),
    ]
    for tensors, head, words in cases:
        with pytest.raises(MessageRejected, match=words):
            decode(_raw(tensors, head))
    with pytest.raises(MessageRejected, match="header"):
        decode(safetensors.numpy.save(good, metadata={"other": "1"}))
    with pytest.raises(MessageRejected, match="header"):
        decode(safetensors.numpy.save(good, metadata={"fedmkt": "[1, 2"}))


def test_random_byte_flips_give_a_message_or_a_rejection_never_another_exception():
    message, positions = _message()
    data = bytearray(encode(message))
    rng = np.random.default_rng(3)
    outcomes = {"accepted": 0, "rejected": 0}
    for _ in range(300):
        corrupt = bytearray(data)
        for at in rng.integers(0, len(corrupt), size=rng.integers(1, 4)):
            corrupt[at] = int(rng.integers(0, 256))
        try:
            receive(bytes(corrupt), expected_positions=positions, vocab_size=SMALL_VOCAB, top_k=8)
            outcomes["accepted"] += 1
        except MessageRejected as error:
            assert "\n" not in str(error)
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 50  # and no other exception type escaped


def test_oversize_messages_are_rejected_before_decoding():
    message, positions = _message()
    data = encode(message)
    assert len(data) <= max_message_bytes(positions, 8, SMALL_VOCAB)
    kw = dict(expected_positions=positions, vocab_size=SMALL_VOCAB, top_k=8)
    with pytest.raises(MessageRejected, match="exceeds the bound 100"):
        receive(data, max_bytes=100, **kw)
    with pytest.raises(MessageRejected, match="exceeds"):
        validate(message, max_bytes=100, **kw)
    bloated, _ = _message(positions={"a": 3000, "b": 1, "c": 4})  # far more rows than the public set has
    with pytest.raises(MessageRejected, match="exceeds the bound"):
        receive(encode(bloated), **kw)


def test_bytes_per_sample_for_k128_and_three_answer_positions():
    """Communication cost: ids in uint16 (SmolLM2-sized vocabulary) or int32 (Gemma-3), probs in fp16."""
    n, positions_per_sample, k = 200, 3, 128
    sizes = {}
    for vocab in (SMALL_VOCAB, BIG_VOCAB):
        positions = {f"arc/train/{i:05d}": positions_per_sample for i in range(n)}
        message, _ = _message(vocab=vocab, k=k, positions=positions)
        sizes[vocab] = message_nbytes(message) / n
        payload = positions_per_sample * k * (wire_id_dtype(vocab).itemsize + 2) + 8
        assert payload <= sizes[vocab] < payload + 40  # the rest is the uid in the header
    print(
        f"bytes per sample (k=128, 3 positions): vocab 49152 -> {sizes[SMALL_VOCAB]:.0f}, "
        f"vocab 262144 -> {sizes[BIG_VOCAB]:.0f}"
    )
    assert sizes[SMALL_VOCAB] < sizes[BIG_VOCAB]


def _wire(tensors, uids=("a", "b"), vocab=SMALL_VOCAB, top_k=2, **header):
    head = {"schema_version": SCHEMA_VERSION, "sender": "client-1", "round": 0, "vocab_size": vocab,
            "top_k": top_k, "uids": list(uids)} | header
    return _raw(tensors, head)


def _good_wire(vocab=SMALL_VOCAB):
    return {
        "token_ids": np.array([[1, 2], [3, 4], [5, 6]], wire_id_dtype(vocab)),
        "probs": np.full((3, 2), 0.25, np.float16),
        "n_positions": np.array([2, 1], np.int32),
        "nll": np.array([1.0, 2.0], np.float32),
    }


def test_hand_built_wire_messages_that_lie_about_their_types_or_sizes_are_rejected():
    """What a malicious client can put on the wire without going through ``encode``."""
    positions = {"a": 2, "b": 1}
    kw = dict(expected_positions=positions, vocab_size=SMALL_VOCAB, top_k=2)
    good = _good_wire()
    receive(_wire(good), **kw)  # the control: a valid hand-built message passes
    cases = [
        ("ids wider than the vocabulary needs", good | {"token_ids": good["token_ids"].astype(np.int32)},
         {}, "token_ids dtype int32, expected uint16"),
        ("ids as floats", good | {"token_ids": good["token_ids"].astype(np.float32)}, {}, "token_ids dtype float32"),
        ("probs in float32", good | {"probs": good["probs"].astype(np.float32)}, {}, "probs dtype float32"),
        ("negative position count", good | {"n_positions": np.array([4, -1], np.int32)}, {},
         "sample 'b': n_positions -1 is negative"),
        ("nll in float16", good | {"nll": good["nll"].astype(np.float16)}, {}, "expected int32 / float32"),
        ("extra tensor", good | {"private_ids": np.zeros(3, np.int32)}, {}, "tensors"),
        ("duplicated uid on the wire", good, {"uids": ["a", "a"]}, "'a': duplicated uid"),
        ("unknown uid on the wire", good, {"uids": ["a", "zz"]}, "'zz': unknown uid"),
        ("a bool for the version", good, {"schema_version": True}, "schema_version True"),
        ("a future schema version", good, {"schema_version": SCHEMA_VERSION + 1}, "schema_version"),
        ("top_k it was not asked for", good, {"top_k": 3}, "top_k 3, expected"),
    ]
    for name, tensors, header, words in cases:
        uids = header.pop("uids", ("a", "b"))
        with pytest.raises(MessageRejected) as caught:
            receive(_wire(tensors, uids, **header), **kw)
        assert words in str(caught.value), (name, str(caught.value))
        assert "\n" not in str(caught.value)


def test_a_negative_position_count_is_named_as_negative_even_when_the_counts_add_up():
    """[4, -1] sums to the 3 rows sent, so only the sign is wrong; the reason must say so, not blame the sum."""
    tensors = _good_wire() | {"n_positions": np.array([4, -1], np.int32)}
    kw = dict(expected_positions={"a": 2, "b": 1}, vocab_size=SMALL_VOCAB, top_k=2)
    with pytest.raises(MessageRejected) as caught:
        receive(_wire(tensors), **kw)
    reason = str(caught.value)
    assert "sample 'b': n_positions -1 is negative; expected a count of 0 or more" in reason
    assert "sum" not in reason
    with pytest.raises(MessageRejected, match="n_positions sum to 4, token_ids has 3 rows"):  # a true sum error
        receive(_wire(_good_wire() | {"n_positions": np.array([3, 1], np.int32)}), **kw)


def test_uint8_ids_out_of_a_tiny_vocabulary_are_rejected():
    vocab = 200  # ids travel as uint8, which can hold up to 255
    tensors = _good_wire(vocab) | {"token_ids": np.array([[1, 2], [3, 250], [5, 6]], np.uint8)}
    with pytest.raises(MessageRejected, match=r"sample 'a': token_ids range \[1, 250\] outside \[0, 200\)"):
        receive(_wire(tensors, vocab=vocab), expected_positions={"a": 2, "b": 1}, vocab_size=vocab, top_k=2)


def test_a_message_bloated_with_made_up_uids_is_rejected_by_size_before_decoding():
    positions = {f"pub/{i}": 2 for i in range(4)}
    kw = dict(expected_positions=positions, vocab_size=SMALL_VOCAB, top_k=8)
    fake = {f"fake/{i:06d}": 1 for i in range(5_000)}  # rows for samples the public set does not have
    message, _ = _message(positions=positions | fake)
    data = encode(message)
    bound = max_message_bytes(positions, 8, SMALL_VOCAB)
    assert len(data) > 10 * bound
    with pytest.raises(MessageRejected, match=f"size {len(data)} bytes exceeds the bound {bound}"):
        receive(data, **kw)
    small_fake, _ = _message(positions=positions | {"fake/1": 1})  # within the size bound: caught by uid
    with pytest.raises(MessageRejected, match="'fake/1': unknown uid"):
        receive(encode(small_fake), **kw)
