"""The ServerApp's rounds and the ClientApp's handlers, with only the transport replaced (``InProcessGrid``).

Each message gets a fresh ClientApp context, so state crosses messages only through the node's
cache folder, as under Flower 1.41. Same seed, no dropouts: the same scores, adapters and byte
counts as the in-process runner. Dropouts and invalid messages are left out with
their reason; too few clients stop the run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from rich.console import Console

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from flwr.app import Array, Message, RecordDict  # noqa: E402
from inprocess_grid import InProcessGrid, client_keys  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from fedmkt.config import parse_config  # noqa: E402
from fedmkt.deploy.flower.client_app import app  # noqa: E402
from fedmkt.deploy.flower.federation import FlowerFederation  # noqa: E402
from fedmkt.deploy.flower.settings import Settings  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402
from fedmkt.report.scores import scores_path  # noqa: E402
from fedmkt.runners.local import run_experiment  # noqa: E402

SIDE = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train": {"lr": 3e-3, "batch_size": 8, "max_length": 48}}
HETEROGENEOUS = ["tiny-gpt2-bpe", "tiny-qwen2-wordpiece", "tiny-opt-unigram"]


ROWS = {"FedMKT": ["FedMKT-SLM", "FedMKT-LLM"], "FedMKT-FedAvg": ["FedMKT-SLM-FedAvg", "FedMKT-LLM-FedAvg"],
        "LLM2SLM": ["LLM2SLM"], "FedAvg": ["FedAvg"]}


def _config(models: list[str], rounds: int = 1, method: str = "FedMKT") -> dict:
    methods = ROWS[method]
    return {"name": "t", "seed": 0, "task": "tiny_qa", "server": {"model": "tiny-llama-unigram", **SIDE},
            "clients": [{"model": m, **SIDE} for m in models],
            "data": {"public_size": 12, "private_size": 12, "eval_size": 12},
            "eval": {"batch_size": 16, "bootstrap": 100},
            "fedmkt": {"rounds": rounds, "top_k": 8}, "methods": methods}


def _nodes(tmp_path, n: int) -> dict[int, dict]:
    return {10 + i: {"client": f"client-{i}", "cache": str(tmp_path / f"cache-{i}")} for i in range(1, n + 1)}


def _grid(tmp_path, nodes: dict[int, dict], run_id: int = 1) -> InProcessGrid:
    """The grid over ``nodes``, each node holding its client's key pair (in ``tmp_path/keys``)."""
    return InProcessGrid(app, nodes, run_id=run_id, keys=client_keys(tmp_path / "keys", nodes))


def _federate(tmp_path, config: dict, grid: InProcessGrid, **run_config):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = Settings.from_run_config({"experiment": str(path), "experiment-name": "", "out": str(tmp_path / "run"),
                                         "timeout": 30.0, "wait-nodes": 0.0, "client-keys": str(tmp_path / "keys"),
                                         **run_config}, grid.run_id)
    rows = FlowerFederation(grid, settings).run()
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    return rows, events


def _same_adapters(a, b) -> bool:
    first, second = load_file(str(a)), load_file(str(b))
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def _adapter_config(folder) -> dict:
    """``adapter_config.json``, its target_modules sorted (peft writes that set in this process's hash order)."""
    config = json.loads((folder / "adapter_config.json").read_text())
    return {**config, "target_modules": sorted(config["target_modules"])}


def _same_server_adapter(tmp_path, method: str, round_: int) -> bool:
    """The server's adapter of ``round_`` equal in the Flower run and the in-process one (none for the baselines)."""
    if method in ("LLM2SLM", "FedAvg"):  # a frozen LLM, no LLM: neither run writes one
        return not any((tmp_path / side / "adapters" / method / f"round-{round_}" / "server").exists()
                       for side in ("run", "ref"))
    ours, ref = (tmp_path / side / "adapters" / method / f"round-{round_}" / "server" / "adapter_model.safetensors"
                 for side in ("run", "ref"))
    return _same_adapters(ours, ref)


@pytest.mark.parametrize("models, rounds, method", [
    (HETEROGENEOUS[:2], 2, "FedMKT"),
    (HETEROGENEOUS[:1] * 2, 1, "FedMKT-FedAvg"),
    (HETEROGENEOUS[:1], 2, "LLM2SLM"),
    (HETEROGENEOUS[:1] * 2, 2, "FedAvg"),
], ids=["heterogeneous-2-rounds", "homogeneous-fedavg", "llm2slm", "plain-fedavg"])
def test_same_seed_same_results_as_the_in_process_runner(tmp_path, models, rounds, method):
    config = _config(models, rounds, method)
    grid = _grid(tmp_path, _nodes(tmp_path, len(models)))
    rows, _ = _federate(tmp_path, config, grid, method=method, **{"min-clients": 1})
    reference = run_experiment(parse_config(config, "test"), tmp_path / "ref", show_progress=False,
                               console=Console(quiet=True))
    assert rows == reference and {r.method for r in rows} == set(ROWS[method])
    ref_adapters = tmp_path / "ref" / "adapters" / method / f"round-{rounds}"
    assert _same_server_adapter(tmp_path, method, rounds)
    for i in range(1, len(models) + 1):  # each client's adapter, kept in its node's cache between messages
        assert _same_adapters(tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}" / "adapter.safetensors",
                              ref_adapters / f"client-{i}" / "adapter_model.safetensors")
    mean = tmp_path / "run" / "adapters" / method / f"round-{rounds}" / "fedavg-mean"
    if method.endswith("FedAvg"):  # the server keeps the averaged adapter, as peft writes it
        assert _same_adapters(mean / "adapter_model.safetensors",
                              ref_adapters / "client-1" / "adapter_model.safetensors")
        assert _adapter_config(mean) == _adapter_config(ref_adapters / "client-1")
    else:
        assert not mean.exists()
    ledger = [{k: v for k, v in json.loads(line).items()} for line in (tmp_path / "run" / "comm.jsonl").open()]
    assert ledger == [json.loads(line) for line in (tmp_path / "ref" / "comm.jsonl").open()]


def test_a_domain_federation_gives_the_in_process_runners_results_and_writes_plots_and_cards(tmp_path):
    """Each node trains on its own domain (the split's private data of its client), every participant is scored
    on every domain with its metric: the same rows, adapters and score files as the in-process runner."""
    config = {k: v for k, v in _config(HETEROGENEOUS[:2]).items() if k != "task"}
    config["domains"] = [{"task": "tiny_qa"}, {"task": "tiny_gen", "eval_size": 6}]
    config["clients"] = [{**c, "domains": [d]} for c, d in zip(config["clients"], ["tiny_qa", "tiny_gen"], strict=True)]
    config["eval"] = {**config["eval"], "max_new_tokens": 4}
    grid = _grid(tmp_path, _nodes(tmp_path, 2))
    rows, _ = _federate(tmp_path, config, grid, method="FedMKT", **{"min-clients": 1})
    reference = run_experiment(parse_config(config, "test"), tmp_path / "ref", show_progress=False,
                               console=Console(quiet=True))
    assert rows == reference
    assert {(r.participant, r.task, r.metric) for r in rows if r.metric in ("acc", "rougeL")} == {
        (p, t, m) for p in ("server", "client-1", "client-2") for t, m in (("tiny_qa", "acc"), ("tiny_gen", "rougeL"))}
    assert _same_server_adapter(tmp_path, "FedMKT", 1)
    for i in (1, 2):
        assert _same_adapters(tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}" / "adapter.safetensors",
                              tmp_path / "ref" / "adapters" / "FedMKT" / "round-1" / f"client-{i}" /
                              "adapter_model.safetensors")
    kept = {"server": tmp_path / "run"} | {f"client-{i}": tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}"
                                           for i in (1, 2)}  # a client's scores stay on its node
    for participant, folder in kept.items():
        method = "FedMKT-LLM" if participant == "server" else "FedMKT-SLM"
        for domain in ("tiny_qa", "tiny_gen"):  # a score file per domain, as the in-process runner writes it
            assert (scores_path(folder, method, participant, 1, domain).read_text()
                    == scores_path(tmp_path / "ref", method, participant, 1, domain).read_text())
    run = tmp_path / "run"  # what `flwr run` leaves: plots per domain and the server adapter's model card
    assert {p.name for p in (run / "plots").glob("methods_*.png")} == {"methods_tiny_qa_acc.png",
                                                                      "methods_tiny_gen_rougeL.png",
                                                                      "methods_tiny_qa_acc_norm.png",
                                                                      "methods_tiny_qa_acc_pmi.png"}
    assert (run / "adapters" / "FedMKT" / "round-1" / "server" / "README.md").is_file()


@pytest.mark.parametrize("models, method", [(HETEROGENEOUS, "FedMKT"), (HETEROGENEOUS[:1] * 3, "FedAvg")],
                         ids=["FedMKT", "FedAvg"])
def test_the_server_app_draws_the_runners_clients_and_scores_the_others_with_their_own_adapters(tmp_path, models,
                                                                                                method):
    """Two of three clients a round (client-1 and -3, then -1 and -2): the same rows, adapters and bytes."""
    config = {**_config(models, rounds=2, method=method), "seed": 1}
    config["fedmkt"]["clients_per_round"] = 2
    grid = _grid(tmp_path, _nodes(tmp_path, 3))
    rows, events = _federate(tmp_path, config, grid, method=method)
    reference = run_experiment(parse_config(config, "test"), tmp_path / "ref", show_progress=False,
                               console=Console(quiet=True))
    assert rows == reference
    drawn = [(e["round"], e["clients"]) for e in events if e["event"] == "clients_sampled"]
    assert drawn == [(1, ["client-1", "client-3"]), (2, ["client-1", "client-2"])]
    asked = {(int(m.metadata.group_id), m.metadata.message_type, m.metadata.dst_node_id) for m in grid.sent
             if m.metadata.message_type != "query.info"}
    assert {(r, node) for r, kind, node in asked if kind.startswith("train.")} == {(1, 11), (1, 13), (2, 11), (2, 12)}
    assert {(r, node) for r, kind, node in asked if kind == "evaluate.score"} == {(1, 12), (2, 13)}
    assert not [e for e in events if e["event"] == "excluded"]
    for i in (1, 2, 3):
        assert _same_adapters(tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}" / "adapter.safetensors",
                              tmp_path / "ref" / "adapters" / method / "round-2" / f"client-{i}" /
                              "adapter_model.safetensors")
    ledger = [json.loads(line) for line in (tmp_path / "run" / "comm.jsonl").open()]
    assert ledger == [json.loads(line) for line in (tmp_path / "ref" / "comm.jsonl").open()]


def _at(message_type: str, round_: int, node: int):
    return lambda m: {node} if (m.metadata.message_type, m.metadata.group_id, m.metadata.dst_node_id) == (
        message_type, str(round_), node) else set()


@pytest.mark.parametrize("how, reason", [
    ("silent", "train.upload: no answer within 7 s"),
    ("reported", "train.upload: error reply 5: Error: Node Unavailable"),
    ("disconnected", "train.upload: its node is not connected"),
], ids=["silent", "reported", "disconnected"])
def test_a_node_that_stops_answering_is_left_out_and_the_run_goes_on(tmp_path, how, reason):
    grid = _grid(tmp_path, _nodes(tmp_path, 2))
    grid.unavailable = how == "reported"
    if how == "disconnected":  # gone after its last message of round 1: not even asked in round 2
        grid.kill_after = _at("train.distill", 1, 12)
    else:  # dies as the round-2 upload arrives
        grid.kill_before = _at("train.upload", 2, 12)
    rows, events = _federate(tmp_path, _config(HETEROGENEOUS[:2], rounds=2), grid, timeout=7.0,
                             **{"min-clients": 1})
    excluded = [(e["round"], e["step"], e["client"]) for e in events if e["event"] == "excluded"]
    assert excluded == [(2, "upload", "client-2")]
    assert next(e["reason"] for e in events if e["event"] == "excluded").startswith(reason)
    receive = [e for e in events if e["event"] == "server_receive"]
    assert [(e["accepted"], e["missing"]) for e in receive] == [(["client-1", "client-2"], []),
                                                                (["client-1"], ["client-2"])]
    assert {(r.round, r.participant) for r in rows if r.metric == "acc"} == {
        (1, "server"), (1, "client-1"), (1, "client-2"), (2, "server"), (2, "client-1")}
    assert f"| 2 | upload | client-2 | {reason}" in (tmp_path / "run" / "results.md").read_text()


def _nan_probs(message_type: str):
    """A tamper that puts a NaN into the top-k probabilities of ``message_type`` messages (or replies)."""
    def tamper(message: Message) -> Message:
        if message.metadata.message_type == message_type and not message.has_error():
            probs = message.content.array_records["topk"]["probs"].numpy().copy()
            probs[0, 0] = np.nan
            message.content.array_records["topk"]["probs"] = Array(probs)
        return message
    return tamper


def test_an_invalid_upload_is_rejected_by_the_core_and_that_client_gets_no_llm_message(tmp_path):
    grid = _grid(tmp_path, _nodes(tmp_path, 3))
    grid.tamper[12] = _nan_probs("train.upload")
    _, events = _federate(tmp_path, _config(HETEROGENEOUS), grid)
    (excluded,) = [e for e in events if e["event"] == "excluded"]
    assert (excluded["step"], excluded["client"]) == ("upload", "client-2")
    assert "message rejected" in excluded["reason"] and "NaN" in excluded["reason"]
    distilled = {m.metadata.dst_node_id for m in grid.sent if m.metadata.message_type == "train.distill"}
    assert distilled == {11, 13}


def test_a_node_that_rejects_the_llm_message_skips_kd_and_the_run_goes_on(tmp_path):
    grid = _grid(tmp_path, _nodes(tmp_path, 2))
    grid.tamper_sent[12] = _nan_probs("train.distill")
    rows, events = _federate(tmp_path, _config(HETEROGENEOUS[:2]), grid)
    (refused,) = [e for e in events if e["event"] == "client_receive"]
    assert (refused["receiver"], refused["round"]) == ("client-2", 1) and "NaN" in refused["rejected"]["server"]
    assert [e["participant"] for e in events if e["event"] == "client_train"] == ["client-1"]
    assert {r.participant for r in rows if r.metric == "acc"} == {"server", "client-1", "client-2"}
    assert "| 1 | distill | client-2 | rejected the server's message: " in (tmp_path / "run" / "results.md").read_text()


def test_the_run_stops_when_fewer_than_min_clients_remain(tmp_path):
    grid = _grid(tmp_path, _nodes(tmp_path, 2))
    grid.dead = {12}
    with pytest.raises(FedMKTError, match="1 client\\(s\\) left \\(\\['client-1'\\]\\), fewer than min-clients=2"):
        _federate(tmp_path, _config(HETEROGENEOUS[:2]), grid, **{"min-clients": 2})
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "run_abort" and events[-1]["step"] == "info"


def test_a_node_refuses_the_llm_message_of_a_round_it_did_not_upload_in(tmp_path):
    grid = _grid(tmp_path, _nodes(tmp_path, 1))
    job = {"experiment": yaml.safe_dump(_config(HETEROGENEOUS[:1])), "round": 1, "server-vocab": 1200,
           "steps": "client_kd"}
    from flwr.app import ConfigRecord

    message = Message(RecordDict({"job": ConfigRecord(job)}), dst_node_id=11, message_type="train.distill",
                      group_id="1")
    (reply,) = grid.send_and_receive([message])
    assert reply.has_error() and "no upload of round 1" in reply.error.reason


class _ServerStopped(Exception):
    """The ServerApp process dying mid-run (raised out of the grid, as a killed process never returns)."""


def _stop_at(message_type: str, round_: int, node: int, *, after: bool = False):
    """A grid hook that stops the server when ``message_type`` of ``round_`` reaches ``node`` (or is answered)."""
    def hook(message: Message) -> set[int]:
        if (message.metadata.message_type, message.metadata.group_id, message.metadata.dst_node_id) == (
                message_type, str(round_), node):
            raise _ServerStopped(f"stopped at {message_type} of round {round_} ({'after' if after else 'before'})")
        return set()
    return hook


@pytest.mark.parametrize("models, method, stop, after", [
    (HETEROGENEOUS[:2], "FedMKT", ("train.upload", 2, 11), False),  # between rounds
    (HETEROGENEOUS[:2], "FedMKT", ("train.distill", 2, 11), True),  # client-1 finished round 2, client-2 not
    (HETEROGENEOUS[:2], "FedMKT", ("train.distill", 1, 12), False),  # in round 1: nothing finished
    (HETEROGENEOUS[:1] * 2, "FedMKT-FedAvg", ("train.fedavg", 2, 11), True),  # client-1 holds round 2's mean
    (HETEROGENEOUS[:1] * 2, "FedAvg", ("train.fedavg", 2, 11), True),  # the same without an LLM
    (HETEROGENEOUS[:1], "LLM2SLM", ("train.distill", 2, 11), False),  # a frozen LLM's message again
], ids=["between-rounds", "mid-round-2", "mid-round-1", "fedavg-mid-round-2", "plain-fedavg-mid-round-2",
        "llm2slm-mid-round-2"])
def test_a_stopped_server_resumes_in_a_new_flower_run_with_the_uninterrupted_results(tmp_path, models, method,
                                                                                       stop, after):
    config = _config(models, rounds=2, method=method)
    nodes = _nodes(tmp_path, len(models))
    first = _grid(tmp_path, nodes, run_id=1)
    if after:
        first.kill_after = _stop_at(*stop, after=True)
    else:
        first.kill_before = _stop_at(*stop)
    with pytest.raises(_ServerStopped):
        _federate(tmp_path, config, first, method=method, **{"min-clients": 1})
    rows, events = _federate(tmp_path, config, _grid(tmp_path, nodes, run_id=2), method=method, resume=True,
                             **{"min-clients": 1})

    reference = run_experiment(parse_config(config, "test"), tmp_path / "ref", show_progress=False,
                               console=Console(quiet=True))
    assert rows == reference
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == json.loads(
        (tmp_path / "ref" / "results.json").read_text())
    ref_adapters = tmp_path / "ref" / "adapters" / method / "round-2"
    assert _same_server_adapter(tmp_path, method, 2)
    for i in range(1, len(models) + 1):  # the nodes keep the first Flower run's folder (its run key)
        assert _same_adapters(tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}" / "adapter.safetensors",
                              ref_adapters / f"client-{i}" / "adapter_model.safetensors")
        assert not (tmp_path / f"cache-{i}" / "runs" / "2").exists()
    ledger = [json.loads(line) for line in (tmp_path / "run" / "comm.jsonl").open()]
    assert ledger == [json.loads(line) for line in (tmp_path / "ref" / "comm.jsonl").open()]
    finished = 1 if stop[1] == 2 else 0
    assert [e["round"] for e in events if e["event"] == "run_resume"] == [finished]
    assert [e["round"] for e in events if e["event"] == "round_end"] == [1, 2]  # the unfinished round's cut off
    assert sum(e["event"] == "run_start" for e in events) == 1


def test_resume_refuses_a_folder_without_a_run_another_experiment_and_a_finished_run(tmp_path):
    config = _config(HETEROGENEOUS[:1], rounds=1)
    nodes = _nodes(tmp_path, 1)
    with pytest.raises(FedMKTError, match="flower-state.json not found"):
        _federate(tmp_path, config, _grid(tmp_path, nodes), resume=True, **{"min-clients": 1})
    _federate(tmp_path, config, _grid(tmp_path, nodes), **{"min-clients": 1})
    with pytest.raises(FedMKTError, match="finished all 1 rounds"):
        _federate(tmp_path, config, _grid(tmp_path, nodes, run_id=2), resume=True, **{"min-clients": 1})
    with pytest.raises(FedMKTError, match="holds a run of another experiment"):
        _federate(tmp_path, {**config, "seed": 1}, _grid(tmp_path, nodes, run_id=2), resume=True,
                  **{"min-clients": 1})
