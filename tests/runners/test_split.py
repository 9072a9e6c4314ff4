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
