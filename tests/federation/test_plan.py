"""The plan of a round: which steps each method runs, in which order, by which role, and who is scored."""

from __future__ import annotations

import pytest

from fedmkt.config import load_preset
from fedmkt.federation.client_steps import EVENTS
from fedmkt.federation.plan import (
    CLIENTS,
    SERVER,
    Variant,
    round_plan,
    variants_for,
)

HOMOGENEOUS = load_preset("tiny")[1]  # FedMKT, FedMKT-FedAvg and FedAvg
ONE_TO_ONE = load_preset("tiny")[2]  # FedMKT and LLM2SLM


def _variant(config, phase: str) -> Variant:
    return next(v for v in variants_for(config.method_names) if v.phase == phase)


def _fedmkt(**changes):
    return HOMOGENEOUS.fedmkt.model_copy(update={"rounds": 3, "eval_every": 2, **changes})


def _steps(plan) -> list[tuple[str, str, bool]]:
    return [(s.name, s.role, s.sent) for s in plan.steps]


def test_fedmkt_round_is_the_papers_order_with_the_upload_sent():
    plan = round_plan(_variant(HOMOGENEOUS, "FedMKT"), _fedmkt(), 1)
    assert _steps(plan) == [("private", CLIENTS, False), ("upload", CLIENTS, True), ("server_select", SERVER, False),
                            ("server_train", SERVER, False), ("server_message", SERVER, True),
                            ("client_kd", CLIENTS, False)]


def test_private_training_only_in_round_one_unless_asked_every_round():
    variant = _variant(HOMOGENEOUS, "FedMKT")
    assert round_plan(variant, _fedmkt(), 2).names()[0] == "private"
    once = _fedmkt(train_private_each_round=False)
    assert round_plan(variant, once, 1).names()[0] == "private"
    assert "private" not in round_plan(variant, once, 2).names()


def test_llm2slm_keeps_its_upload_and_its_frozen_llm_neither_receives_nor_trains():
    plan = round_plan(_variant(ONE_TO_ONE, "LLM2SLM"), _fedmkt(), 1)
    assert _steps(plan) == [("private", CLIENTS, False), ("upload", CLIENTS, False), ("server_message", SERVER, True),
                            ("client_kd", CLIENTS, False)]


@pytest.mark.parametrize("phase, before", [
    ("FedMKT-FedAvg", ["private", "upload", "server_select", "server_train", "server_message", "client_kd"]),
    ("FedAvg", ["private"]),
])
def test_fedavg_closes_the_round_after_the_clients_last_training(phase, before):
    assert round_plan(_variant(HOMOGENEOUS, phase), _fedmkt(), 1).names() == [*before, "fedavg"]
    once = _fedmkt(train_private_each_round=False)
    assert round_plan(_variant(HOMOGENEOUS, phase), once, 2).names() == [n for n in [*before, "fedavg"]
                                                                          if n != "private"]


def test_scored_every_eval_every_rounds_and_after_the_last_only_on_the_asked_sides():
    fedmkt, fedavg = _variant(HOMOGENEOUS, "FedMKT"), _variant(HOMOGENEOUS, "FedAvg")
    assert [round_plan(fedmkt, _fedmkt(), r).scored for r in (1, 2, 3)] == [(), (SERVER, CLIENTS), (SERVER, CLIENTS)]
    assert round_plan(fedavg, _fedmkt(), 3).scored == (CLIENTS,)  # no LLM
    assert round_plan(fedmkt, _fedmkt(eval_every=0), 2).scored == ()
    clients_only = Variant("FedMKT", "FedMKT-SLM", None)
    assert round_plan(clients_only, _fedmkt(), 3).scored == (CLIENTS,)


def test_the_methods_asked_for_choose_the_variants_and_their_row_names():
    variants = variants_for(["FedMKT-LLM", "FedAvg", "LLM2SLM", "Standalone"])
    assert [(v.phase, v.slm_method, v.llm_method) for v in variants] == [
        ("FedMKT", None, "FedMKT-LLM"), ("LLM2SLM", "LLM2SLM", None), ("FedAvg", "FedAvg", None)]
    assert variants_for(["Standalone", "LLM-ZS"]) == []


@pytest.mark.parametrize("phase", ["FedMKT", "FedMKT-FedAvg", "FedAvg"])
def test_every_client_step_of_a_plan_says_what_it_reports(phase):
    """A server that reads a client's reports from its reply knows each client step's events."""
    plan = round_plan(_variant(HOMOGENEOUS, phase), _fedmkt(), 1)
    assert all(step.name in EVENTS for step in plan.steps if step.role == CLIENTS)
