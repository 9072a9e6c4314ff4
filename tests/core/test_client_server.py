"""Client and Server roles: two full in-process rounds, bad messages, lambda 0, LLM2SLM, public answers kept
out of training (public_sft false), every position distilled (kd_positions all)."""

from __future__ import annotations

import math
import struct
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from roles_fixtures import N_PUBLIC, SETTINGS, build_federation, lora_model, tiny_qa_split, train_args

from fedmkt.core.client import Client, PrivateClient
from fedmkt.core.messages import MessageRejected, decode, encode
from fedmkt.core.train_phase import train_phase
from fedmkt.errors import FedMKTError
from fedmkt.models.lora import get_adapter_state
from fedmkt.training.encode import IGNORE_INDEX
from fedmkt.training.sft import sft_loss

PURE_KD = replace(SETTINGS, public_sft=False, kd_weight=1.0, unmatched_weight=0.0)


def _changed(before: dict, model) -> bool:
    after = get_adapter_state(model)
    return any(not torch.equal(before[k], after[k]) for k in before)


def _uploads(clients, round_):
    return {c.name: c.public_payload(round_)[0] for c in clients}


def test_two_rounds_in_process(tmp_path):
    start = time.perf_counter()
    server, clients = build_federation(tmp_path)
    setup = time.perf_counter() - start
    adapters = {p.name: get_adapter_state(p.model) for p in [server, *clients]}
    setup_misses = {c.name: server.clients[c.name].aligner.misses for c in clients}
    assert setup_misses == {c.name: N_PUBLIC for c in clients}
    seconds = {"setup": setup}
    for round_ in range(2):
        t0 = time.perf_counter()
        uploads = {}
        for client in clients:
            private = client.train_private(train_args(seed=round_))
            assert private.steps == 4 and math.isfinite(private.mean_loss)
            uploads[client.name], sent = client.public_payload(round_)
            assert sent.nbytes == len(uploads[client.name]) and sent.n_samples == N_PUBLIC
        intake = server.receive(uploads, round=round_)
        assert intake.accepted == [c.name for c in clients] and not intake.rejected and not intake.missing
        chosen = server.select_and_align()
        assert sum(chosen.counts.values()) == N_PUBLIC
        assert chosen.counts["none"] == 0 and chosen.aligned_samples == N_PUBLIC
        assert (chosen.cache_hits, chosen.cache_misses) == (N_PUBLIC, 0)
        assert chosen.matched_rows > chosen.rows // 2
        trained = server.train_public(train_args(seed=round_))
        assert math.isfinite(trained.metrics["kd_loss"]) and trained.metrics["kd_loss"] > 0
        assert trained.metrics["kd_positions"] > 0.5
        data, _ = server.public_payload(round_)
        for client in clients:
            got = client.receive_llm(data, round=round_)
            assert sum(got.counts.values()) == N_PUBLIC == len(client.selection.uids)
            assert got.aligned_samples == got.counts["llm"] and got.cache_misses == 0
            learned = client.train_public(train_args(seed=round_))
            assert math.isfinite(learned.metrics["kd_loss"])
        seconds[f"round {round_ + 1}"] = time.perf_counter() - t0
    server_aligners = [server.clients[c.name].aligner for c in clients]
    assert [a.misses for a in server_aligners] == [N_PUBLIC] * len(clients), "aligned once, at registration"
    assert sum(a.hits for a in server_aligners) == 2 * N_PUBLIC, "one teacher per sample per round"
    assert all(c.server.aligner.misses == N_PUBLIC for c in clients)
    for participant in [server, *clients]:
        assert _changed(adapters[participant.name], participant.model), participant.name
    print("tiny 2-round loop, seconds:", {k: round(v, 3) for k, v in seconds.items()})


def _flip_header_bytes(data: bytes, message) -> bytes:
    size = struct.unpack("<Q", data[:8])[0]
    return data[:8] + bytes(b ^ 0xFF for b in data[8 : 8 + size]) + data[8 + size :]


def _nan_prob(data: bytes, message) -> bytes:
    probs = message.samples[3].probs.copy()
    probs[0, 0] = np.nan
    samples = list(message.samples)
    samples[3] = replace(samples[3], probs=probs)
    return encode(replace(message, samples=samples))


def _wrong_version(data: bytes, message) -> bytes:
    return encode(replace(message, schema_version=99))


def _truncated(data: bytes, message) -> bytes:
    return data[:40]


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (_flip_header_bytes, "header"),
        (_nan_prob, "NaN"),
        (_wrong_version, "schema_version 99"),
        (_truncated, "truncated"),
    ],
)
def test_a_bad_message_excludes_its_client_and_the_round_completes(tmp_path, corrupt, reason):
    server, clients = build_federation(tmp_path)
    bad, good = clients
    uploads = _uploads(clients, 0)
    uploads[bad.name] = corrupt(uploads[bad.name], decode(uploads[bad.name]))
    intake = server.receive(uploads, round=0)
    assert intake.accepted == [good.name] and list(intake.rejected) == [bad.name]
    assert reason in intake.rejected[bad.name]
    chosen = server.select_and_align()
    assert chosen.counts == {"none": 0, good.name: N_PUBLIC}
    before = get_adapter_state(server.model)
    trained = server.train_public(train_args(max_steps=1))
    assert trained.steps == 1 and _changed(before, server.model)


def test_unknown_and_missing_senders_are_reported(tmp_path):
    server, clients = build_federation(tmp_path)
    uploads = {clients[0].name: clients[0].public_payload(0)[0], "mallory": b"\x00" * 16}
    intake = server.receive(uploads, round=0)
    assert intake.accepted == [clients[0].name] and intake.missing == [clients[1].name]
    assert intake.rejected == {"mallory": "not a registered client"}
    assert intake.to_dict()["nbytes"]["mallory"] == 16
    stale = server.receive({clients[0].name: uploads[clients[0].name]}, round=1)
    assert "round 0, expected 1" in stale.rejected[clients[0].name]
    assert server.select_and_align().counts == {"none": N_PUBLIC}, "no client: SFT only"
    assert server.targets == {}


def test_misuse_is_a_clear_error(tmp_path):
    server, clients = build_federation(tmp_path)
    with pytest.raises(FedMKTError, match="receive the clients' messages before selecting"):
        server.select_and_align()
    with pytest.raises(FedMKTError, match="already taken"):
        server.register_client(clients[0].info)
    data, _ = server.public_payload(0)
    with pytest.raises(FedMKTError, match="own NLL"):
        clients[0].receive_llm(data, round=0)
    clients[0].public_payload(0)
    with pytest.raises(FedMKTError, match="own NLL\\) of round 1"):
        clients[0].receive_llm(server.public_payload(1)[0], round=1)
    with pytest.raises(MessageRejected, match="truncated"):
        clients[0].receive_llm(data[:100], round=0)
    assert clients[0].targets == {} and clients[0].selection is None


def test_lambda_zero_public_phase_equals_plain_sft(tmp_path):
    """Same client twice: SFT+KD with lambda 0 (and real KD targets) vs the plain SFT loss."""
    lambda_zero = replace(SETTINGS, kd_weight=0.0)
    server, (client, _) = build_federation(tmp_path, client_models=("tiny-gpt2-bpe", "tiny-gpt2-bpe"),
                                           settings=lambda_zero)
    public, private = tiny_qa_split()
    model, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)  # the same weights as ``client``
    twin = Client("twin", model, tokenizer, private[0], public, server.info, settings=lambda_zero,
                  alignment_cache=tmp_path, max_length=client.participant.max_length)
    client.public_payload(0)
    client.receive_llm(server.public_payload(0)[0], round=0)
    assert client.targets, "the LLM was selected for some samples"
    client.train_public(train_args())
    train_phase(twin.name, twin.model, twin.pad_id, twin.participant.encoded_public, sft_loss, train_args(), "public")
    mine, theirs = get_adapter_state(client.model), get_adapter_state(twin.model)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_llm2slm_frozen_server_only_teaches(tmp_path):
    server, clients = build_federation(tmp_path, frozen=True)
    before = get_adapter_state(server.model)
    sent = []
    for round_ in range(2):
        for client in clients:
            client.train_private(train_args(max_steps=1))
            client.public_payload(round_)  # its own NLL, for selection; not uploaded
        report = server.train_public(train_args())
        assert report.steps == 0 and report.skipped
        data, message_report = server.public_payload(round_)
        assert message_report.reused == (round_ == 1)
        sent.append(decode(data))
        for client in clients:
            client.receive_llm(data, round=round_)
            client.train_public(train_args(max_steps=2))
    assert not _changed(before, server.model)
    assert [m.round for m in sent] == [0, 1]
    for a, b in zip(sent[0].samples, sent[1].samples, strict=True):
        assert np.array_equal(a.token_ids, b.token_ids) and np.array_equal(a.probs, b.probs)


def test_plain_fedavg_client_trains_step_1_as_a_full_client_does(tmp_path):
    server, (client, _) = build_federation(tmp_path)
    _, private = tiny_qa_split()
    model, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)  # the same weights as ``client``
    plain = PrivateClient("plain", model, tokenizer, private[0], max_length=client.participant.max_length)
    assert plain.n_private == client.n_private == len(private[0])
    ours, theirs = client.train_private(train_args(seed=3)), plain.train_private(train_args(seed=3))
    assert (ours.steps, ours.mean_loss) == (theirs.steps, theirs.mean_loss) and theirs.participant == "plain"
    mine, other = get_adapter_state(client.model), get_adapter_state(plain.model)
    assert all(torch.equal(mine[k], other[k]) for k in mine)
    with pytest.raises(FedMKTError, match="client 'empty': private data is empty"):
        PrivateClient("empty", model, tokenizer, [])


def test_the_roles_exchange_with_the_settings_they_were_built_with(tmp_path):
    settings = replace(SETTINGS, top_k=3, public_batch_size=1)
    server, (client, _) = build_federation(tmp_path, settings=settings)
    data, _ = server.public_payload(0)
    assert decode(data).top_k == 3
    client.public_payload(0)
    assert client.receive_llm(data, round=0).receiver == client.name, "same settings: accepted"
    public, private = tiny_qa_split()
    model, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)
    other = Client("other", model, tokenizer, private[0], public, server.info, settings=replace(settings, top_k=5),
                   alignment_cache=tmp_path, max_length=client.participant.max_length)
    other.public_payload(0)
    with pytest.raises(MessageRejected, match="top_k"):
        other.receive_llm(data, round=0)


def test_fallback_rows_weigh_the_bound_unmatched_weight_on_both_sides(tmp_path):
    server, clients = build_federation(tmp_path, settings=replace(SETTINGS, unmatched_weight=0.0))
    server.receive(_uploads(clients, 0), round=0)
    server.select_and_align()
    data, _ = server.public_payload(0)
    for client in clients:
        client.receive_llm(data, round=0)
    for side in (server, *clients):
        weights = torch.cat([t.weight for t in side.targets.values()])
        assert (weights == 0).any() and (weights == 1).any(), side.name  # fallback rows at 0, matched at 1
        assert set(weights.unique().tolist()) == {0.0, 1.0}


def test_the_bound_temperature_shapes_the_public_phase(tmp_path):
    server, (client, _) = build_federation(tmp_path, client_models=("tiny-gpt2-bpe", "tiny-gpt2-bpe"))
    public, private = tiny_qa_split()
    model, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)  # the same weights as ``client``
    hot = Client("hot", model, tokenizer, private[0], public, server.info, settings=replace(SETTINGS, temperature=4.0),
                 alignment_cache=tmp_path, max_length=client.participant.max_length)
    data, _ = server.public_payload(0)
    for c in (client, hot):
        c.public_payload(0)
        c.receive_llm(data, round=0)
    assert client.targets.keys() == hot.targets.keys() and client.targets
    cool, warm = client.train_public(train_args()), hot.train_public(train_args())
    assert cool.metrics["sft_loss"] != warm.metrics["sft_loss"] or cool.metrics["kd_loss"] != warm.metrics["kd_loss"]
    mine, theirs = get_adapter_state(client.model), get_adapter_state(hot.model)
    assert any(not torch.equal(mine[k], theirs[k]) for k in mine)


def _one_round_of_targets(server, clients):
    server.receive(_uploads(clients, 0), round=0)
    server.select_and_align()
    data, _ = server.public_payload(0)
    for client in clients:
        client.receive_llm(data, round=0)


def test_without_public_sft_no_target_row_is_a_gold_one_hot_on_either_side(tmp_path):
    server, clients = build_federation(tmp_path, settings=PURE_KD)
    _one_round_of_targets(server, clients)
    for side in (server, *clients):
        assert side.targets, side.name
        weights = torch.cat([t.weight for t in side.targets.values()])
        mass = torch.cat([t.probs.sum(-1) for t in side.targets.values()])
        assert (weights == 0).any(), f"{side.name}: some positions have no aligned teacher token"
        assert torch.equal(weights == 0, mass == 0), f"{side.name}: an unaligned row carries mass"
        assert (mass[weights > 0] < 1.0).all(), f"{side.name}: teacher rows are top-k, never a whole one-hot"


def _with_other_answers(client):
    """The client's public encodings with every gold answer label replaced (the input ids stay)."""
    vocab = len(client.tokenizer)
    view = client.participant.view
    view.encoded = [
        replace(ex, labels=tuple(label if label == IGNORE_INDEX else (label + 1) % vocab for label in ex.labels))
        for ex in view.encoded
    ]


@pytest.mark.parametrize("kd_positions", ["answer", "all"])
def test_without_public_sft_a_client_learns_the_same_whatever_the_public_answers_say(tmp_path, kd_positions):
    """Two copies of a client with the same teacher rows, one whose public gold answers are all replaced:
    without public SFT they train to identical adapters, over the selected samples only; with it they differ."""
    server, (client, _) = build_federation(tmp_path, client_models=("tiny-gpt2-bpe", "tiny-gpt2-bpe"),
                                           settings=replace(PURE_KD, kd_positions=kd_positions))
    public, private = tiny_qa_split()
    _one_round_of_targets(server, [client])
    assert 0 < len(client.targets) < N_PUBLIC, "the LLM is chosen for some samples, not all"
    adapters = {}
    for public_sft in (False, True):
        settings = client.settings if not public_sft else replace(SETTINGS, kd_weight=0.5, kd_positions=kd_positions)
        for name in ("gold", "other"):
            model, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)  # the same weights as ``client``
            twin = Client(name, model, tokenizer, private[0], public, server.info, settings=settings,
                          alignment_cache=tmp_path, max_length=client.participant.max_length)
            twin.targets = client.targets
            if name == "other":
                _with_other_answers(twin)
            report = twin.train_public(train_args())
            adapters[public_sft, name] = get_adapter_state(twin.model)
            assert report.examples == (N_PUBLIC if public_sft else len(client.targets))
    same = adapters[False, "gold"], adapters[False, "other"]
    assert all(torch.equal(same[0][k], same[1][k]) for k in same[0])
    control = adapters[True, "gold"], adapters[True, "other"]
    assert any(not torch.equal(control[0][k], control[1][k]) for k in control[0])


def test_without_public_sft_a_side_with_no_teacher_row_skips_its_public_phase(tmp_path):
    server, (client, _) = build_federation(tmp_path, settings=PURE_KD)
    before = get_adapter_state(client.model)
    report = client.train_public(train_args())
    assert report.steps == 0 and report.examples == 0 and "no teacher row" in report.skipped
    assert not _changed(before, client.model)
    assert build_federation(tmp_path)[1][0].train_public(train_args(max_steps=1)).steps == 1, "with SFT: trains"


def test_all_positions_give_every_non_padding_position_a_teacher_row_and_the_loss_covers_them(tmp_path):
    """Same tokenizer on both sides (tiny-qwen2-unigram shares tiny-llama-unigram's): every position of every
    public sample that predicts a token has a teacher row, one per row sent, and every one weighs in the loss."""
    server, (client,) = build_federation(tmp_path, client_models=("tiny-qwen2-unigram",),
                                         settings=replace(SETTINGS, kd_positions="all"))
    tokens = {uid: len(ids) for uid, ids in zip(server.participant.view.uids, server.participant.view.ids,
                                                strict=True)}
    data, sent = client.public_payload(0)
    assert {s.uid: s.n_positions for s in decode(data).samples} == {uid: n - 1 for uid, n in tokens.items()}
    assert sent.n_positions == sum(tokens.values()) - N_PUBLIC
    server.receive({client.name: data}, round=0)
    aligned = server.select_and_align()
    assert aligned.aligned_samples == N_PUBLIC and aligned.rows == aligned.matched_rows == sent.n_positions
    for index, target in server.targets.items():
        assert target.n_positions == tokens[server.participant.view.uids[index]] - 1
        assert (target.weight == 1).all() and (target.probs.sum(-1) > 0).all()
    trained = server.train_public(train_args())
    assert trained.metrics["kd_positions"] == 1.0 and trained.metrics["kd_loss"] > 0


def test_all_positions_with_other_tokenizers_keep_one_row_per_position_on_both_sides(tmp_path):
    settings = replace(SETTINGS, kd_positions="all")
    server, clients = build_federation(tmp_path, settings=settings)
    answer_only, answer_clients = build_federation(tmp_path / "answer")
    _one_round_of_targets(server, clients)
    for side in (server, *clients):
        view = side.participant.view
        for index, target in side.targets.items():
            assert target.n_positions == len(view.ids[index]) - 1, side.name
        assert all(a.size < p.size for a, p in zip(view.answer_rows, view.positions, strict=True))
    sizes = {c.name: len(c.public_payload(1)[0]) for c in clients}
    assert all(sizes[c.name] > 2 * len(c.public_payload(1)[0]) for c in answer_clients), "prompt rows travel"
    data, _ = server.public_payload(1)
    answer_clients[0].public_payload(1)
    with pytest.raises(MessageRejected, match=r"expected \(\d+, 8\): one row per scored position \(kd_positions\)"):
        answer_clients[0].receive_llm(data, round=1)
