"""From a config to the run's data: eval set or dev slice, never both."""

import pytest

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.runners.split import build_split, infer_scenario


def _config(**overrides):
    base = {
        "task": "tiny_qa",
        "server": {"model": "tiny-llama-unigram"},
        "clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-gpt2-bpe"}],
        "data": {"public_size": 10, "private_size": 10, "eval_size": 12, "dev_size": 8},
    }
    return parse_config({**base, **overrides}, "test")


def test_scoring_on_dev_swaps_in_the_held_out_training_slice():
    on_eval, on_dev = build_split(_config()), build_split(_config(eval={"split": "dev"}))
    assert [e.uid for e in on_dev.eval] == [e.uid for e in on_eval.dev]  # same slice, same seed
    assert len(on_dev.eval) == 8
    trained = {e.uid for e in on_dev.public} | {e.uid for part in on_dev.private for e in part}
    assert not trained & {e.uid for e in on_dev.eval}  # tuning never scores what was trained on
    assert not {e.uid for e in on_eval.eval} & {e.uid for e in on_dev.eval}


def test_dev_scoring_without_a_dev_slice_is_a_clear_error():
    config = _config(data={"public_size": 10, "private_size": 10}, eval={"split": "dev"})
    with pytest.raises(FedMKTError, match="data.dev_size"):
        build_split(config)


def test_scenario_follows_the_clients():
    assert infer_scenario(_config()) == "homogeneous"
    assert infer_scenario(_config(clients=[{"model": "tiny-gpt2-bpe"}])) == "one-to-one"
    assert infer_scenario(_config(clients=[{"model": "tiny-gpt2-bpe"}, {"model": "tiny-opt-unigram"}])) == \
        "heterogeneous"


def _domains(**overrides):
    base = {
        "server": {"model": "tiny-llama-unigram"},
        "domains": [{"task": "tiny_qa", "private_size": 20}, {"task": "tiny_gen", "public_size": 4}],
        "clients": [{"model": "tiny-gpt2-bpe", "domains": ["tiny_qa"]},
                    {"model": "tiny-gpt2-bpe", "domains": ["tiny_gen", "tiny_qa"]}],
        "data": {"public_size": 10, "private_size": 10, "eval_size": 12, "dev_size": 6},
    }
    return parse_config({**base, **overrides}, "test")


def test_a_domain_federation_gives_each_client_its_domains_with_each_domains_sizes():
    split = build_split(_domains())
    assert split.sizes() == {"public": 14, "private": [20, 30], "eval": 24, "dev": 12}
    assert {e.uid.split("/")[0] for e in split.private[0]} == {"tiny_qa"}  # client-1 holds tiny_qa alone
    assert [len(p) for p in split.domains[1].split.private] == [10]  # data.private_size where the domain sets none
    on_dev = build_split(_domains(eval={"split": "dev"}))
    assert {k: [e.uid for e in v] for k, v in on_dev.eval_sets("x").items()} == {
        p.label: [e.uid for e in p.split.dev] for p in split.domains}  # each domain scored on its own dev slice


@pytest.mark.parametrize("data, domain, fields", [
    ({}, {"private_size": 195}, "domains.0 (tiny_qa): data.public_size, domains.0.private_size, data.dev_size: "
                                "dev 6 + public 10 + 2 clients x 195 private = 406 examples requested, 400 available "
                                "in tiny_qa's train split"),
    ({"private_size": 195}, {"private_size": None}, "domains.0 (tiny_qa): data.public_size, data.private_size"),
    ({}, {"eval_size": 201}, "domains.0 (tiny_qa): domains.0.eval_size: 201 requested, 200 available in tiny_qa's "
                             "test split"),
])
def test_a_domain_too_small_for_its_shares_names_the_domain_and_the_fields(data, domain, fields):
    config = _domains(data={"public_size": 10, "private_size": 10, "eval_size": 12, "dev_size": 6, **data},
                      domains=[{"task": "tiny_qa", **domain}, {"task": "tiny_gen"}])
    with pytest.raises(FedMKTError) as info:
        build_split(config)
    assert str(info.value).startswith(fields)
