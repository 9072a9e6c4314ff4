"""Privacy of private data: canaries planted in every client's private set never reach the wire.

Each client's private prompts and targets carry random canary strings; the clients train on them
(private SFT), then run the whole message flow of two rounds with the server. Every byte a client
sends (its per-round payloads, and what registration tells the server) is scanned for each canary
in several text encodings and for the canary's token-id sequence under that client's tokenizer, as
contiguous bytes in the wire id dtype (and wider integer types). The detector is shown to work on
a payload that does carry a canary, and each message is checked to hold exactly the schema's
fields. What this cannot show (statistical leakage through the distributions) is in docs/privacy.md.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace

import numpy as np
import safetensors.numpy
import torch
from roles_fixtures import MAX_LENGTH, N_PUBLIC, TOP_K, lora_model, tiny_qa_split, train_args

from fedmkt.core.client import Client
from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.messages import HEADER_KEY, SCHEMA_VERSION, decode, encode, wire_id_dtype
from fedmkt.core.server import Server
from fedmkt.data.example import Example
from fedmkt.models.lora import get_adapter_state

SERVER_MODEL = "tiny-llama-unigram"
CLIENT_MODELS = ("tiny-gpt2-bpe", "tiny-qwen2-wordpiece", "tiny-opt-unigram")
WIRE_TENSORS = {"token_ids", "probs", "n_positions", "nll"}
WIRE_HEADER = {"schema_version", "sender", "round", "vocab_size", "top_k", "uids"}
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "latin-1")
ROUNDS = 2


def make_canaries(seed: int, n: int) -> list[tuple[str, str]]:
    """Per client, a (prompt canary, target canary) pair: random, distinctive, one with a non-ASCII letter."""
    rng = np.random.default_rng(seed)
    letters = list("bcdfghjkmnpqrstvwxz2345789")

    def word() -> str:
        return "".join(rng.choice(letters, size=12))

    return [(f"{word()} é {word()}", f"{word()}{word()}") for _ in range(n)]


def plant(private: list[Example], canaries: tuple[str, str]) -> list[Example]:
    """The client's private set with its canaries in every prompt and every target."""
    secret_prompt, secret_target = canaries
    return [replace(ex, prompt=f"{ex.prompt.removesuffix('Answer:')}Note {secret_prompt}.\nAnswer:",
                    target=f"{ex.target} {secret_target}") for ex in private]


def _token_patterns(tokenizer, text: str, vocab_size: int) -> list[bytes]:
    """The canary's token-id sequences (as written, after a space) as contiguous little-endian bytes."""
    patterns = []
    for variant in (text, " " + text, text + "."):
        ids = tokenizer(variant, add_special_tokens=False)["input_ids"]
        assert len(ids) >= 3, f"canary {text!r} is too short to be distinctive as ids {ids}"
        for dtype in {wire_id_dtype(vocab_size), np.dtype("<i4"), np.dtype("<i8")}:
            patterns.append(np.asarray(ids, dtype=dtype).tobytes())
    return patterns


def leaks(data: bytes, text: str, tokenizer, vocab_size: int) -> list[str]:
    """How ``text`` shows up in ``data``: as encoded text, lower-cased, or as its token ids; [] if not at all."""
    found = [enc for enc in ENCODINGS if text.encode(enc, errors="ignore") in data]
    escaped = json.dumps(text)[1:-1]  # as a JSON string holds it (the header is JSON inside JSON)
    found += [f"json x{n}" for n, form in ((1, escaped), (2, json.dumps(escaped)[1:-1])) if form.encode() in data]
    found += [f"{enc} lower" for enc in ("utf-8",) if text.lower().encode(enc) in data.lower()]
    found += [f"token ids {p.hex()}" for p in _token_patterns(tokenizer, text, vocab_size) if p in data]
    return found


def check_schema(data: bytes, sender: str, round_: int, vocab_size: int, public_uids: list[str],
                 expected_rows: int) -> None:
    """The payload holds exactly the schema: four tensors in their dtypes, and a header of six fields."""
    (header_len,) = struct.unpack("<Q", data[:8])
    outer = json.loads(data[8 : 8 + header_len])
    assert set(outer) == WIRE_TENSORS | {"__metadata__"}
    assert set(outer["__metadata__"]) == {HEADER_KEY}
    header = json.loads(outer["__metadata__"][HEADER_KEY])
    assert set(header) == WIRE_HEADER
    assert header == {"schema_version": SCHEMA_VERSION, "sender": sender, "round": round_,
                      "vocab_size": vocab_size, "top_k": TOP_K, "uids": public_uids}
    tensors = safetensors.numpy.load(data)
    k = min(TOP_K, vocab_size)
    assert tensors["token_ids"].dtype == wire_id_dtype(vocab_size) and tensors["token_ids"].shape == (expected_rows, k)
    assert tensors["probs"].dtype == np.float16 and tensors["probs"].shape == (expected_rows, k)
    assert tensors["n_positions"].dtype == np.int32 and tensors["n_positions"].shape == (len(public_uids),)
    assert tensors["nll"].dtype == np.float32 and tensors["nll"].shape == (len(public_uids),)
    payload = sum(t.nbytes for t in tensors.values())
    assert len(data) == 8 + header_len + payload, "nothing hides between or after the tensors"


def test_canaries_in_private_data_never_leave_a_client(tmp_path):
    public, privates = tiny_qa_split(len(CLIENT_MODELS))
    canaries = make_canaries(seed=20240611, n=len(CLIENT_MODELS))
    model, tokenizer = lora_model(SERVER_MODEL, seed=0)
    settings = ExchangeSettings(top_k=TOP_K, kd_weight=0.5)
    server = Server("server", model, tokenizer, public, settings=settings, max_length=MAX_LENGTH,
                    alignment_cache=tmp_path)
    clients, registrations = [], {}
    for i, (name, private) in enumerate(zip(CLIENT_MODELS, privates, strict=True)):
        model, tokenizer = lora_model(name, seed=i + 1)
        client = Client(f"client-{i + 1}", model, tokenizer, plant(private, canaries[i]), public, server.info,
                        settings=settings, max_length=MAX_LENGTH, alignment_cache=tmp_path)
        trained_on = np.concatenate([np.asarray(ex.input_ids, wire_id_dtype(client.participant.vocab_size))
                                     for ex in client.encoded_private]).tobytes()
        for canary in canaries[i]:  # control: the scan finds the canaries in what the client trains on
            assert any(f.startswith("token ids") for f in leaks(trained_on, canary, tokenizer,
                                                                 client.participant.vocab_size)), (name, canary)
        registrations[client.name] = client.info  # what registration tells the server
        server.register_client(client.info)
        clients.append(client)

    sent: dict[str, list[bytes]] = {c.name: [] for c in clients}
    for round_ in range(ROUNDS):
        uploads = {}
        for client in clients:
            before = get_adapter_state(client.model)
            trained = client.train_private(train_args(seed=round_))
            assert trained.steps > 0 and any(not torch.equal(before[k], v)
                                             for k, v in get_adapter_state(client.model).items()), \
                "the client really trained on its canaries"
            uploads[client.name], _ = client.public_payload(round_)
            sent[client.name].append(uploads[client.name])
        assert server.receive(uploads, round=round_).accepted == [c.name for c in clients]
        server.select_and_align()
        server.train_public(train_args(seed=round_))
        data, _ = server.public_payload(round_)
        for client in clients:
            client.receive_llm(data, round=round_)
            client.train_public(train_args(seed=round_))

    all_canaries = [c for pair in canaries for c in pair]
    public_uids = [ex.uid for ex in public]
    scanned = 0
    for client in clients:
        tok, vocab = client.participant.tokenizer, client.participant.vocab_size
        info = registrations[client.name]
        registration = json.dumps({"name": info.name, "vocab_size": info.vocab_size, "max_length": info.max_length,
                                   "tokenizer": tok.backend_tokenizer.to_str()}).encode()
        expected_rows = sum(client.participant.expected_positions().values())
        for round_, data in enumerate(sent[client.name]):
            check_schema(data, client.name, round_, vocab, public_uids, expected_rows)
            for canary in all_canaries:  # its own canaries, and the others' (which it never saw) as a control
                assert leaks(data, canary, tok, vocab) == [], (client.name, round_, canary)
                assert leaks(registration, canary, tok, vocab) == []
                scanned += 1
        private_uids = [ex.uid.encode() for ex in client.private]
        assert not any(uid in data for uid in private_uids for data in sent[client.name]), "which records it holds"
        assert len({len(d) for d in sent[client.name]}) == 1, "the size depends on the public set alone"
    assert scanned == len(clients) * ROUNDS * len(all_canaries)
    print(f"privacy: {sum(map(len, sent.values()))} client messages "
          f"({sum(len(d) for v in sent.values() for d in v)} bytes) scanned for {len(all_canaries)} canaries in "
          f"{len(ENCODINGS)} encodings and as token ids: none found; N_PUBLIC={N_PUBLIC}")


def test_the_detector_finds_a_canary_that_is_on_the_wire():
    """Control: the same scan flags a payload that carries the canary as text or as its token ids."""
    _, tokenizer = lora_model("tiny-gpt2-bpe", seed=1)
    vocab = len(tokenizer)
    canary = make_canaries(seed=1, n=1)[0][0]
    ids = tokenizer(" " + canary, add_special_tokens=False)["input_ids"]
    k = len(ids)
    probs = np.full((1, k), 0.5 / k, np.float16)
    from fedmkt.core.messages import DistributionMessage, SampleDistributions

    row = SampleDistributions("pub/0", np.asarray([ids], wire_id_dtype(vocab)), probs, 1.0)
    clean = DistributionMessage(SCHEMA_VERSION, "client-1", 0, vocab, k, [row])
    assert "utf-8" not in leaks(encode(clean), canary, tokenizer, vocab)
    assert any(f.startswith("token ids") for f in leaks(encode(clean), canary, tokenizer, vocab)), \
        "a top-k row holding the canary's ids in order is caught"
    named = replace(clean, sender=f"client {canary}")
    assert "json x2" in leaks(encode(named), canary, tokenizer, vocab)  # "é" is escaped twice in the header
    assert decode(encode(named)).sender.endswith(canary)
