"""Excluded messages: read from the run log, rendered for results.md, and a whole run with a broken client."""

from __future__ import annotations

import math
import struct
from dataclasses import replace

import numpy as np
import pytest

from fedmkt.config import parse_config
from fedmkt.core.client import Client
from fedmkt.core.messages import decode, encode
from fedmkt.report.events import EventLog
from fedmkt.report.exclusions import excluded_messages, exclusion_records, render_exclusions


def _receive(round_, rejected=None, missing=(), phase="FedMKT"):
    """A ``server_receive`` line as the runner logs it (a core ReceiveReport plus the phase)."""
    accepted = [c for c in ("client-1", "client-2", "client-3") if c not in (rejected or {}) and c not in missing]
    return {"time": 1.0, "event": "server_receive", "phase": phase, "receiver": "server", "round": round_,
            "accepted": accepted, "rejected": dict(rejected or {}), "missing": list(missing),
            "nbytes": {c: 100 for c in accepted}, "decode_seconds": 0.01}


def test_rejected_and_missing_messages_become_records_and_a_table():
    events = [
        {"event": "round_start", "phase": "FedMKT", "round": 1},
        _receive(1, {"client-2": "message from 'client-2' rejected: sample 'a': probs contain NaN or inf"}),
        _receive(2, missing=["client-3"]),
        _receive(1, phase="FedMKT-FedAvg"),
    ]
    assert exclusion_records(events) == [
        {"phase": "FedMKT", "round": 1, "receiver": "server", "sender": "client-2", "kind": "rejected",
         "reason": "message from 'client-2' rejected: sample 'a': probs contain NaN or inf"},
        {"phase": "FedMKT", "round": 2, "receiver": "server", "sender": "client-3", "kind": "missing",
         "reason": "sent nothing this round"},
    ]
    text = render_exclusions(events)
    assert text.startswith("\n## Excluded messages\n\n2 message(s) were left out")
    assert ("| FedMKT | 1 | server | client-2 | rejected | message from 'client-2' rejected: sample 'a': probs "
            "contain NaN or inf |") in text.splitlines()
    assert "| FedMKT | 2 | server | client-3 | missing | sent nothing this round |" in text.splitlines()


def test_no_exchange_no_section_and_a_clean_exchange_says_so():
    assert render_exclusions([{"event": "phase_start", "phase": "LLM-ZS"}]) == ""
    assert "Every message was accepted" in render_exclusions([_receive(1), _receive(2)])


def test_a_resumed_round_logged_twice_counts_once_and_untrusted_text_stays_in_its_cell():
    reason = "message from 'evil | x\ny' rejected: header"
    events = [_receive(1, {"evil | x\ny": reason}), _receive(1, {"evil | x\ny": reason})]
    (only,) = excluded_messages(events)
    assert only.sender == "evil | x\ny"
    row = render_exclusions(events).splitlines()[-1]
    assert row == r"| FedMKT | 1 | server | evil \| x y | rejected | message from 'evil \| x y' rejected: header |"


# -- a whole run ----------------------------------------------------------------------------------

BAD = "client-2"


def _nan_probs(data: bytes) -> bytes:
    message = decode(data)
    probs = message.samples[0].probs.copy()
    probs[0, 0] = np.nan
    return encode(replace(message, samples=[replace(message.samples[0], probs=probs), *message.samples[1:]]))


def _flip_header(data: bytes) -> bytes:
    size = struct.unpack("<Q", data[:8])[0]
    return data[:8] + bytes(b ^ 0x5A for b in data[8 : 8 + size]) + data[8 + size :]


CORRUPTIONS = {1: (_nan_probs, "probs contain NaN or inf"), 2: (_flip_header, "undecodable header")}


@pytest.fixture
def broken_client(monkeypatch):
    """``client-2`` uploads a NaN probability in round 1 and a scrambled header in round 2."""
    honest = Client.public_payload

    def public_payload(self, round):
        data, report = honest(self, round)
        if self.name == BAD:
            data = CORRUPTIONS[round][0](data)
        return data, report

    monkeypatch.setattr(Client, "public_payload", public_payload)


def test_a_run_with_a_corrupt_client_completes_and_records_the_exclusion(tmp_path, broken_client):
    from fedmkt.runners.local import run_experiment

    config = parse_config({
        "name": "malicious", "seed": 0, "task": "tiny_qa",
        "server": {"model": "tiny-llama-unigram", "train": {"max_steps": 1, "batch_size": 8, "max_length": 64}},
        "clients": [{"model": "tiny-gpt2-bpe", "train": {"max_steps": 1, "batch_size": 8, "max_length": 64}},
                    {"model": "tiny-qwen2-wordpiece", "train": {"max_steps": 1, "batch_size": 8, "max_length": 64}}],
        "data": {"public_size": 8, "private_size": 8, "eval_size": 8},
        "eval": {"bootstrap": 100},
        "fedmkt": {"rounds": 2, "top_k": 4, "eval_every": 0},
        "methods": ["FedMKT-SLM", "FedMKT-LLM"],
    }, "test")
    rows = run_experiment(config, tmp_path / "run", show_progress=False)
    events = EventLog(tmp_path / "run" / "metrics.jsonl").read()
    intakes = [e for e in events if e["event"] == "server_receive"]
    assert [e["round"] for e in intakes] == [1, 2]
    for intake in intakes:
        assert intake["accepted"] == ["client-1"] and list(intake["rejected"]) == [BAD]
        assert CORRUPTIONS[intake["round"]][1] in intake["rejected"][BAD]
    chosen = [e["counts"] for e in events if e["event"] == "server_align"]
    assert chosen == [{"none": 0, "client-1": 8}] * 2, "every public sample distilled from the good client"
    assert {(r.participant, r.round) for r in rows if r.metric == "acc"} == {
        (p, 2) for p in ("server", "client-1", BAD)}, "the round went on: everyone trained and was scored"
    assert all(math.isfinite(r.value) for r in rows)

    exclusions = excluded_messages(events)
    assert [(e.round, e.sender, e.kind) for e in exclusions] == [(1, BAD, "rejected"), (2, BAD, "rejected")]
    table = render_exclusions(events).splitlines()
    assert sum(line.startswith(f"| FedMKT | {r} | server | {BAD} | rejected |") for line in table for r in (1, 2)) == 2


def test_clients_that_reject_the_servers_message_go_on_without_it(tmp_path, monkeypatch):
    """A scrambled server message in round 1: each client logs the rejection, skips KD, and the run goes on."""
    from fedmkt.core.server import Server
    from fedmkt.runners.local import run_experiment

    honest = Server.public_payload

    def public_payload(self, round):
        data, report = honest(self, round)
        return (_flip_header(data) if round == 1 else data), report

    monkeypatch.setattr(Server, "public_payload", public_payload)
    train = {"max_steps": 1, "batch_size": 8, "max_length": 64}
    config = parse_config({
        "name": "bad-server", "seed": 0, "task": "tiny_qa",
        "server": {"model": "tiny-llama-unigram", "train": train},
        "clients": [{"model": "tiny-gpt2-bpe", "train": train}, {"model": "tiny-qwen2-wordpiece", "train": train}],
        "data": {"public_size": 8, "private_size": 8, "eval_size": 8}, "eval": {"bootstrap": 100},
        "fedmkt": {"rounds": 2, "top_k": 4, "eval_every": 0}, "methods": ["FedMKT-SLM", "FedMKT-LLM"],
    }, "test")
    rows = run_experiment(config, tmp_path / "run", show_progress=False)
    events = EventLog(tmp_path / "run" / "metrics.jsonl").read()
    refused = [e for e in events if e["event"] == "client_receive"]
    assert [(e["round"], e["receiver"]) for e in refused] == [(1, "client-1"), (1, "client-2")]
    assert all("undecodable header" in e["rejected"]["server"] for e in refused)
    trained = [(e["round"], e["participant"]) for e in events if e["event"] == "client_train"]
    assert trained == [(2, "client-1"), (2, "client-2")], "no KD on a rejected message; KD again in round 2"
    assert {(r.participant, r.round) for r in rows if r.metric == "acc"} == {
        (p, 2) for p in ("server", "client-1", "client-2")}
    assert [(e.round, e.receiver, e.sender, e.kind) for e in excluded_messages(events)] == [
        (1, "client-1", "server", "rejected"), (1, "client-2", "server", "rejected")]
    assert "| FedMKT | 1 | client-1 | server | rejected |" in render_exclusions(events)
