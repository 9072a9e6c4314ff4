"""The roles built from the experiment's entries: the run's fedmkt section bound, names and lengths from the specs."""

from __future__ import annotations

from fedmkt.config import load_preset
from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.data.tasks import get_task
from fedmkt.setup.models import with_lora
from fedmkt.setup.roles import (
    build_client,
    build_server,
    default_alignment_cache,
    exchange_settings,
    private_client,
)

CONFIG = load_preset("tiny")[2]  # one client


def test_exchange_settings_carry_every_field_of_the_fedmkt_section():
    fm = CONFIG.fedmkt.model_copy(update={"top_k": 7, "public_batch_size": 3, "unmatched_weight": 0.0,
                                          "kd_weight": 1.0, "temperature": 2.0, "public_sft": False,
                                          "kd_positions": "all"})
    assert exchange_settings(fm) == ExchangeSettings(top_k=7, public_batch_size=3, unmatched_weight=0.0,
                                                     kd_weight=1.0, temperature=2.0, public_sft=False,
                                                     kd_positions="all")
    assert set(type(fm).model_fields) - {"rounds", "eval_every", "train_private_each_round", "clients_per_round"} == {
        f for f in ExchangeSettings.__dataclass_fields__}, "a fedmkt field the roles never see"


def test_roles_take_their_names_lengths_and_the_runs_settings_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDMKT_HOME", str(tmp_path / "home"))
    data = get_task("tiny_qa").load("train")
    public, private = data[:4], data[4:8]
    server_spec, client_spec = CONFIG.server, CONFIG.clients[0]
    model, tokenizer = with_lora(server_spec, dtype="float32", device="cpu", seed=0)
    server = build_server(server_spec, model, tokenizer, public, CONFIG.fedmkt, frozen=True, alignment_cache=tmp_path)
    model, tokenizer = with_lora(client_spec, dtype="float32", device="cpu", seed=0)
    client = build_client(client_spec, model, tokenizer, private, public, server.info, CONFIG.fedmkt)
    plain = private_client(client_spec, model, tokenizer, private)
    assert (server.name, server.frozen, server.participant.max_length) == (
        server_spec.name, True, server_spec.train.max_length)
    assert (client.name, client.participant.max_length) == (client_spec.name, client_spec.train.max_length)
    assert server.settings == client.settings == exchange_settings(CONFIG.fedmkt)
    assert (plain.name, plain.n_private) == (client_spec.name, len(private))
    assert default_alignment_cache() == tmp_path / "home" / "cache" / "vocab_maps"
    assert list(default_alignment_cache().glob("*.npz")), "no folder named: the client's map is cached by default"
    assert not list(tmp_path.glob("*.npz")), "the server's named folder holds nothing: it aligned no one"
