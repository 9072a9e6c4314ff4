"""A node serves only the client whose key it holds: registration on the in-process grid, real ClientApp.

Each hostile node here is one an adversarial tester would start: a registered key used to claim
another client, a key that is no client's, no key, a key that is no EC key, replies rewritten to
claim another name or model, or with nothing readable. Each is refused with its reason while the
real nodes register; one full run shows the refusals and the client that never connected in
``results.md``.
"""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from flwr.app import ConfigRecord, Message  # noqa: E402
from inprocess_grid import InProcessGrid, client_keys, pem_of  # noqa: E402

from fedmkt.config import parse_config  # noqa: E402
from fedmkt.deploy.certs import make_node_keys  # noqa: E402
from fedmkt.deploy.flower.client_app import app  # noqa: E402
from fedmkt.deploy.flower.exchange import Exchange  # noqa: E402
from fedmkt.deploy.flower.federation import FlowerFederation  # noqa: E402
from fedmkt.deploy.flower.identity import ClientKeys, fingerprint  # noqa: E402
from fedmkt.deploy.flower.registration import register_nodes, wait_for_nodes  # noqa: E402
from fedmkt.deploy.flower.settings import Settings  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402

SIDE = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train": {"lr": 3e-3, "batch_size": 8, "max_length": 48}}
MODELS = ["tiny-gpt2-bpe", "tiny-qwen2-wordpiece", "tiny-opt-unigram"]


def _config(n_clients: int) -> dict:
    return {"name": "t", "seed": 0, "task": "tiny_qa", "server": {"model": "tiny-llama-unigram", **SIDE},
            "clients": [{"model": m, **SIDE} for m in MODELS[:n_clients]],
            "data": {"public_size": 12, "private_size": 12, "eval_size": 12},
            "eval": {"batch_size": 16, "bootstrap": 100},
            "fedmkt": {"rounds": 1, "top_k": 8}, "methods": ["FedMKT-SLM", "FedMKT-LLM"]}


def _node(tmp_path, client: str, name: str) -> dict:
    return {"client": client, "cache": str(tmp_path / f"cache-{name}")}


def _job(config: dict) -> ConfigRecord:
    return ConfigRecord({"experiment": yaml.safe_dump(config), "round": 0, "run-key": "1"})


def _register(tmp_path, nodes: dict[int, dict], keys: dict[int, bytes], *, trust: bool = False,
              tamper: dict | None = None):
    """register_nodes over the grid: (client -> node id, label -> reason, the grid)."""
    grid = InProcessGrid(app, nodes, keys=keys)
    grid.tamper.update(tamper or {})
    config = _config(2)
    client_keys_ = None if trust else ClientKeys.load(tmp_path / "keys", ["client-1", "client-2"], "t")
    refused: dict[str, str] = {}
    _, found = register_nodes(grid, Exchange(grid, 30.0), parse_config(config, "test"), client_keys_, _job(config),
                              0.0, refused.__setitem__)
    return {name: node.node_id for name, node in found.items()}, refused, grid


@pytest.fixture
def keys(tmp_path) -> dict[str, bytes]:
    """PEM public keys of client-1, client-2 (in the client-keys folder) and of a stranger (not in it)."""
    for name in ("client-1", "client-2"):
        make_node_keys(tmp_path / "keys", name)
    make_node_keys(tmp_path / "elsewhere", "stranger")
    return {"client-1": pem_of(tmp_path / "keys" / "client-1.pub"),
            "client-2": pem_of(tmp_path / "keys" / "client-2.pub"),
            "stranger": pem_of(tmp_path / "elsewhere" / "stranger.pub")}


def _fingerprint(tmp_path, client: str) -> str:
    return fingerprint(ClientKeys.load(tmp_path / "keys", [client], "t").by_client[client])


def _asked(grid: InProcessGrid, node: int) -> list[str]:
    return [m.metadata.message_type for m in grid.sent if m.metadata.dst_node_id == node]


def _reply_with(**fields):
    """A tamper that rewrites a node's ``query.info`` reply (a hostile ClientApp): fields set, None removes."""
    def tamper(reply: Message) -> Message:
        info = reply.content.config_records["info"]
        for key, value in fields.items():
            if value is None:
                del info[key]
            else:
                info[key] = value
        return reply
    return tamper


def test_registration_waits_for_every_clients_key_not_for_a_head_count(tmp_path, keys):
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 12: _node(tmp_path, "client-2", "real-2"),
             20: _node(tmp_path, "client-1", "stranger")}
    grid = InProcessGrid(app, nodes, keys={11: keys["client-1"], 12: keys["client-2"], 20: keys["stranger"]})
    grid.dead = {12}  # client-2's node connects only at the server's second look
    looks = []
    connected = grid.get_nodes

    def get_nodes():
        looks.append(len(looks))
        if len(looks) == 2:
            grid.dead.clear()
        return connected()

    grid.get_nodes = get_nodes
    clients = ClientKeys.load(tmp_path / "keys", ["client-1", "client-2"], "t")
    seen = wait_for_nodes(grid, clients, wanted=2, seconds=30.0, poll=0.0)  # two nodes are there at once
    assert sorted(n.node_id for n in seen) == [11, 12, 20] and len(looks) == 2


def test_a_node_holding_client_2s_key_cannot_take_client_1s_slot(tmp_path, keys):
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 13: _node(tmp_path, "client-1", "impostor")}
    found, refused, _ = _register(tmp_path, nodes, {11: keys["client-1"], 13: keys["client-2"]})
    assert found == {"client-1": 11}
    assert refused["node-13"] == (f"query.info: claims to serve 'client-1' but holds the key of 'client-2' "
                                  f"({_fingerprint(tmp_path, 'client-2')}); a node serves only the client whose "
                                  f"key it holds")
    assert refused["client-2"] == "registration: not registered; node-13, which holds its key, was refused"


def test_the_impostor_is_refused_whichever_node_connects_first(tmp_path, keys):
    # the impostor has the lower id, so it is asked first: the first claim no longer wins
    nodes = {5: _node(tmp_path, "client-1", "impostor"), 11: _node(tmp_path, "client-1", "real-1")}
    found, refused, _ = _register(tmp_path, nodes, {5: keys["client-2"], 11: keys["client-1"]})
    assert found == {"client-1": 11} and "holds the key of 'client-2'" in refused["node-5"]


@pytest.mark.parametrize("key", ["stranger", "none", "bad-pem", "rsa"])
def test_a_node_whose_key_is_no_clients_is_refused_before_it_is_sent_anything(tmp_path, keys, key):
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    reported = {"stranger": keys["stranger"], "none": b"", "rsa": rsa_pem,
                "bad-pem": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}[key]
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 12: _node(tmp_path, "client-2", "real-2"),
             20: _node(tmp_path, "client-1", "stranger")}
    found, refused, grid = _register(tmp_path, nodes, {11: keys["client-1"], 12: keys["client-2"], 20: reported})
    assert found == {"client-1": 11, "client-2": 12}
    expected = "is no client's key in" if key == "stranger" else "the node has no EC public key"
    assert set(refused) == {"node-20"} and expected in refused["node-20"]
    assert _asked(grid, 20) == []  # not even the experiment config went to it


@pytest.mark.parametrize("fields, reason", [
    ({"name": "client-2"}, "claims to serve 'client-2' but holds the key of 'client-1'"),
    ({"name": "client-9"}, "claims to serve 'client-9' but holds the key of 'client-1'"),
    ({"name": "c" * 1_000_000}, "claims to serve 'cccc"),
    ({"name": None}, "the reply lacks the client's name, model or sizes"),
    ({"name": 7}, "the reply lacks the client's name, model or sizes"),
    ({"model": "tiny-opt-unigram"}, "serves 'client-1' with model 'tiny-opt-unigram', not a client of"),
    ({"vocab_size": 0}, "vocab_size 0 / n_private 12, expected >= 1"),
], ids=["other-client", "unknown-client", "huge-name", "no-name", "name-not-text", "other-model", "no-vocab"])
def test_a_reply_rewritten_by_a_hostile_clientapp_is_refused(tmp_path, keys, fields, reason):
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 12: _node(tmp_path, "client-2", "real-2")}
    found, refused, _ = _register(tmp_path, nodes, {11: keys["client-1"], 12: keys["client-2"]},
                                  tamper={11: _reply_with(**fields)})
    assert found == {"client-2": 12}
    assert reason in refused["node-11"] and len(refused["node-11"]) < 400
    assert refused["client-1"] == "registration: not registered; node-11, which holds its key, was refused"


def test_a_node_whose_own_config_names_another_model_refuses_itself(tmp_path, keys):
    nodes = {11: {**_node(tmp_path, "client-1", "real-1"), "model": "tiny-opt-unigram"}}
    found, refused, _ = _register(tmp_path, nodes, {11: keys["client-1"]})
    assert found == {} and "node config 'model': 'tiny-opt-unigram'" in refused["node-11"]


def test_two_nodes_with_one_key_cannot_both_serve(tmp_path, keys):
    # the SuperLink never admits one key twice at once; if it did, the second node would still be refused
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 12: _node(tmp_path, "client-1", "twin")}
    found, refused, _ = _register(tmp_path, nodes, {11: keys["client-1"], 12: keys["client-1"]})
    assert found == {"client-1": 11} and "'client-1' is already served by node 11" in refused["node-12"]


def test_trusting_names_registers_whoever_claims_first_which_is_why_it_must_be_asked_for(tmp_path, keys):
    nodes = {5: _node(tmp_path, "client-1", "impostor"), 11: _node(tmp_path, "client-1", "real-1")}
    found, refused, _ = _register(tmp_path, nodes, {5: keys["client-2"], 11: keys["client-1"]}, trust=True)
    assert found == {"client-1": 5} and "already served by node 5" in refused["node-11"]
    assert refused["client-2"] == "registration: not registered; no node was accepted as 'client-2' within 0 s"


def _federate(tmp_path, config: dict, grid: InProcessGrid, **run_config) -> tuple[list, list[dict], str]:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = Settings.from_run_config({"experiment": str(path), "experiment-name": "", "out": str(tmp_path / "run"),
                                         "timeout": 30.0, "wait-nodes": 0.0, "min-clients": 1, **run_config}, 1)
    rows = FlowerFederation(grid, settings).run()
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    return rows, events, (tmp_path / "run" / "results.md").read_text()


def test_the_run_goes_on_with_the_real_nodes_and_results_md_lists_who_was_refused_and_who_never_came(tmp_path):
    nodes = {11: _node(tmp_path, "client-1", "real-1"), 12: _node(tmp_path, "client-1", "impostor")}
    keys = client_keys(tmp_path / "keys", {11: nodes[11], 12: {"client": "client-2"}, 13: {"client": "client-3"}})
    grid = InProcessGrid(app, nodes, keys={11: keys[11], 12: keys[12]})  # client-3's node never connects
    rows, events, report = _federate(tmp_path, _config(3), grid, **{"client-keys": str(tmp_path / "keys")})

    assert {(r.participant, r.metric) for r in rows} >= {("client-1", "acc"), ("server", "acc")}
    assert {r.participant for r in rows} == {"client-1", "server"}
    assert [e["client"] for e in events if e["event"] == "client_registered"] == ["client-1"]
    assert _asked(grid, 12) == ["query.info"]  # refused: never trained, never sent the LLM's knowledge
    assert {"train.upload", "train.distill"} <= set(_asked(grid, 11))
    one, two, three = (_fingerprint(tmp_path, n) for n in ("client-1", "client-2", "client-3"))
    assert f"| client-1 | 11 | {one} | yes |" in report
    left_out = report.split("## Clients left out")[1]
    assert f"| 0 | info | node-12 | query.info: claims to serve 'client-1' but holds the key of 'client-2' ({two})" \
        in left_out
    assert "| 0 | info | client-2 | registration: not registered; node-12, which holds its key, was refused |" \
        in left_out
    assert f"| 0 | info | client-3 | registration: not registered; no node holding its key ({three}) connected " \
           f"within 0 s |" in left_out


def test_a_run_that_trusts_names_says_so_in_results_md(tmp_path):
    grid = InProcessGrid(app, {11: _node(tmp_path, "client-1", "real-1")})  # no keys at all
    _, events, report = _federate(tmp_path, _config(1), grid, **{"trust-client-names": True})
    assert [e["verified"] for e in events if e["event"] == "client_identity"] == [False]
    assert "**Unverified:** the run config sets `trust-client-names = true`" in report
    assert "| client-1 | 11 | none | no |" in report


def test_a_run_without_client_keys_refuses_to_start_and_writes_nothing(tmp_path):
    grid = InProcessGrid(app, {11: _node(tmp_path, "client-1", "real-1")})
    with pytest.raises(FedMKTError, match="'client-keys': not set"):
        _federate(tmp_path, _config(1), grid)
    assert not (tmp_path / "run").exists() and grid.sent == []
