"""Config validation: every shipped config loads, and bad input gives one line naming the field."""

from pathlib import Path

import pytest
import yaml

from fedmkt.config import PRESETS, dump_config, load_config, load_preset, parse_config
from fedmkt.errors import FedMKTError

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"}, "clients": [{"model": "tiny-gpt2-bpe"}]}


@pytest.mark.parametrize("name", PRESETS)
def test_presets_validate_and_round_trip(name):
    config = load_preset(name)
    again = parse_config(yaml.safe_load(dump_config(config)), "dumped")
    assert again == config


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate_and_open_with_their_command(path):
    load_config(path)
    assert path.read_text().startswith("# fedmkt "), "each config's first line is the command that runs it"


def test_participants_get_default_names():
    config = parse_config({**MINIMAL, "clients": [{"model": "a"}, {"model": "b"}]}, "x.yaml")
    assert [c.name for c in config.clients] == ["client-1", "client-2"]
    assert config.server.name == "server"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"sead": 1}, "x.yaml: unknown key 'sead' (did you mean 'seed'?)"),
        ({"clients": [{"model": "a", "lora": {"rank": 4}}]}, "unknown key 'clients.0.lora.rank'"),
        ({"data": {"partition": "random"}}, "'data.partition'"),
        ({"server": {"model": "a", "train": {"lr": -1}}}, "'server.train.lr'"),
        ({"server": {"model": "a", "train": {"betas": [0.9, 1.5]}}}, "each beta must be in [0, 1)"),
        ({"methods": ["Standalon"]}, "did you mean 'Standalone'?"),
        ({"clients": []}, "'clients'"),
        ({"server": None}, "'server'"),
        ({"clients": [{"model": "a", "name": "server"}]}, "participant names must be unique"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(patch, expected):
    with pytest.raises(FedMKTError) as info:
        parse_config({**MINIMAL, **patch}, "x.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("x.yaml: ")


def test_missing_required_key():
    with pytest.raises(FedMKTError, match="missing required key 'task'"):
        parse_config({k: v for k, v in MINIMAL.items() if k != "task"}, "x.yaml")


def test_file_errors(tmp_path):
    with pytest.raises(FedMKTError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(FedMKTError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(FedMKTError, match="expected a mapping"):
        load_config(listed)


def test_unknown_preset_suggests():
    with pytest.raises(FedMKTError, match="did you mean 'tiny'"):
        load_preset("tiyn")
