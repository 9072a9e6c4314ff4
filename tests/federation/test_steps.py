"""The steps of a round on real tiny roles: what each sends and reports, and how a bad message is handled.

Both transports call these functions, so what is checked here holds for the in-process runner and
for Flower alike (tests/deploy/test_federation.py checks that the two give the same runs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from step_roles import CONFIG, quick, server_and_client

from fedmkt.core.messages import decode, encode
from fedmkt.federation.client_steps import EVENTS, client_distill, client_private, client_take_mean, client_upload
from fedmkt.federation.plan import DISTILL, PRIVATE, UPLOAD
from fedmkt.federation.server_steps import fedavg, server_message, server_receive, server_select, server_train
from fedmkt.models.lora import get_adapter_state


def _with_nan(data: bytes) -> bytes:
    """The same message with one probability NaN (what a broken or hostile peer might send)."""
    message = decode(data)
    message.samples[0].probs[0, 0] = np.nan
    return encode(message)


def _adapter(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in get_adapter_state(model).items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_round_of_steps_sends_bytes_and_reports_the_events_the_plan_names(tmp_path):
    server, client = server_and_client(tmp_path)
    server_spec, client_spec = quick(CONFIG.server), quick(CONFIG.clients[0])
    before = _adapter(client.model)
    private = client_private(client, client_spec, CONFIG.seed, 1)
    upload, uploaded = client_upload(client, 1)
    assert [e for e, _ in private] == ["train_private"] and [e for e, _ in uploaded] == list(EVENTS[UPLOAD])
    assert private[0].report.steps == 2 and not _same(before, _adapter(client.model))
    assert decode(upload).round == 1 and client.own_nll == decode(upload).nll_by_uid()

    accepted, rejected, received = server_receive(server, {client.name: upload}, 1)
    assert (accepted, rejected, [e for e, _ in received]) == ([client.name], {}, ["server_receive"])
    (aligned,) = server_select(server)
    assert aligned.event == "server_align" and sum(aligned.report.counts.values()) == 8  # every public sample
    (trained,) = server_train(server, server_spec, CONFIG.seed, 1)
    assert trained.event == "server_train" and trained.report.steps == 2
    message, sent = server_message(server, 1)
    assert [e for e, _ in sent] == ["server_message"] and decode(message).sender == server.name

    kd_before = _adapter(client.model)
    ok, distilled = client_distill(client, message, client_spec, CONFIG.seed, 1)
    assert ok and [e for e, _ in distilled] == ["client_align", "client_train"]
    assert set(e for e, _ in distilled) <= set(EVENTS[DISTILL]) and not _same(kd_before, _adapter(client.model))


def test_a_bad_upload_is_left_out_with_its_reason_and_the_good_ones_go_on(tmp_path):
    server, client = server_and_client(tmp_path)
    upload, _ = client_upload(client, 1)
    accepted, rejected, (received,) = server_receive(server, {client.name: _with_nan(upload), "intruder": upload}, 1)
    assert accepted == [] and set(rejected) == {client.name, "intruder"}
    assert "NaN" in rejected[client.name] and rejected["intruder"] == "not a registered client"
    assert received.report.rejected == rejected
    accepted, rejected, _ = server_receive(server, {client.name: upload}, 1)  # the next try starts afresh
    assert (accepted, rejected) == ([client.name], {})


def test_a_client_that_rejects_the_llm_message_trains_nothing_and_reports_why(tmp_path):
    server, client = server_and_client(tmp_path)
    client_upload(client, 1)  # the client's own NLLs of the round
    message, _ = server_message(server, 1)
    before = _adapter(client.model)
    ok, (refused,) = client_distill(client, _with_nan(message), quick(CONFIG.clients[0]), CONFIG.seed, 1)
    assert not ok and refused.event == "client_receive" and refused.event in EVENTS[DISTILL]
    assert (refused.report.receiver, refused.report.round) == (client.name, 1)
    assert "NaN" in refused.report.rejected["server"] and refused.report.nbytes == {"server": len(message)}
    assert _same(before, _adapter(client.model))  # it keeps the adapter of its private training
    ok, _ = client_distill(client, message, quick(CONFIG.clients[0]), CONFIG.seed, 1)
    assert ok and not _same(before, _adapter(client.model))


def test_fedavg_weighs_each_adapter_by_its_private_data_in_the_order_given_and_clients_load_it(tmp_path):
    states = {"b": {"w": torch.full((2, 3), 1.0)}, "a": {"w": torch.full((2, 3), 5.0)}}
    mean, report = fedavg(states, {"a": 1, "b": 3})
    assert torch.allclose(mean["w"], torch.full((2, 3), 2.0))  # (3 * 1 + 1 * 5) / 4
    assert report.clients == ["b", "a"] and report.weights == [0.75, 0.25] and not math.isnan(report.seconds)
    _, client = server_and_client(tmp_path)
    state = _adapter(client.model)
    shifted = {k: v + 1 for k, v in state.items()}
    client_take_mean(client.model, shifted)
    assert _same(_adapter(client.model), shifted)


def test_a_client_with_a_privacy_ledger_reports_what_it_has_spent_after_each_private_step(tmp_path):
    pytest.importorskip("opacus")
    from fedmkt.privacy.budget import DPSettings, PrivacyLedger

    _, client = server_and_client(tmp_path)
    client.privacy = PrivacyLedger(DPSettings(1.0, 0.5, 1e-3), secret=3)
    spec = quick(CONFIG.clients[0])
    spent = []
    for round_ in (1, 2):
        reports = client_private(client, spec, CONFIG.seed, round_)
        assert [e for e, _ in reports] == list(EVENTS[PRIVATE]) == ["train_private", "privacy"]
        (trained, report) = (r for _, r in reports)
        assert report.participant == client.name and report.steps == trained.steps == 2
        assert (report.total_steps, report.phases) == (2 * round_, round_) and report.delta == 1e-3
        assert report.epsilon == client.privacy.spent()
        spent.append(report.epsilon)
    assert 0 < spent[0] < spent[1]  # the rounds compose
