"""run.json: the config a run started with; a resume refuses one edited since, naming the keys."""

from __future__ import annotations

import json

import pytest
import yaml

from fedmkt.config import dump_config, dump_configs, load_configs, parse_config, parse_configs
from fedmkt.errors import FedMKTError
from fedmkt.runners import config_record

BASE = {"name": "e", "task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
        "clients": [{"model": "tiny-gpt2-bpe"}], "data": {"public_size": 4, "private_size": 4, "eval_size": 4}}


def _config(**change):
    return parse_config({**BASE, **change}, "test")


def test_the_digest_survives_the_round_trip_through_the_folders_config_yaml(tmp_path):
    """What a resume loads from config.yaml hashes as what the run started with (floats, tuples, defaults)."""
    config = _config(server={"model": "tiny-llama-unigram", "train": {"lr": 2.0e-4, "betas": [0.9, 0.95]}},
                     fedmkt={"kd_weight": 0.1, "temperature": 0.7})
    (tmp_path / "config.yaml").write_text(dump_config(config))
    digest = config_record.record_start(tmp_path, [config])
    reloaded = load_configs(tmp_path / "config.yaml")
    assert config_record.config_digest(config_record.config_data(reloaded)) == digest
    assert config_record.check_unchanged(tmp_path, reloaded) is None
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["config_sha256"] == digest and record["config"]["fedmkt"]["temperature"] == 0.7


@pytest.mark.parametrize("change, named", [
    ({"fedmkt": {"kd_weight": 0.5}}, ["fedmkt.kd_weight: 0.1 at start, 0.5 now"]),
    ({"seed": 3}, ["seed: 0 at start, 3 now"]),
    ({"clients": [{"model": "tiny-qwen2-wordpiece"}]},
     ['clients.0.model: "tiny-gpt2-bpe" at start, "tiny-qwen2-wordpiece" now']),
    ({"clients": [{"model": "tiny-gpt2-bpe"}, {"model": "tiny-gpt2-bpe"}]}, ["clients.1: absent at start, {"]),
    ({"methods": ["SLM-ZS"]}, ['methods: ["LLM-ZS", "SLM-ZS", "Standalone", "C... at start, '
                               '["SLM-ZS"] now']),
    ({"data": {"public_size": 4, "private_size": 4, "eval_size": 3}, "seed": 1},
     ["seed: 0 at start, 1 now", "data.eval_size: 4 at start, 3 now"]),
], ids=["kd_weight", "seed", "a client's model", "a client added", "methods", "two keys"])
def test_an_edited_config_is_refused_in_one_line_naming_each_key(tmp_path, change, named):
    config_record.record_start(tmp_path, [_config()])
    with pytest.raises(FedMKTError) as refused:
        config_record.check_unchanged(tmp_path, [_config(**change)])
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'config.yaml'} was changed after the run started (")
    assert message.endswith("); resuming would mix settings: restore it, or start a new run with --out")
    for words in named:
        assert words in message


def test_many_differences_are_counted_not_listed(tmp_path):
    config_record.record_start(tmp_path, [_config()])
    many = _config(seed=1, name="f", fedmkt={"rounds": 3, "top_k": 9, "kd_weight": 0.2, "temperature": 2.0})
    with pytest.raises(FedMKTError) as refused:
        config_record.check_unchanged(tmp_path, [many])
    assert ('(name: "e" at start, "f" now; seed: 0 at start, 1 now; fedmkt.rounds: 5 at start, 3 now; '
            'fedmkt.top_k: 128 at start, 9 now; and 2 more)') in str(refused.value)


SUITE = {"defaults": BASE, "experiments": [{"name": "a"}, {"name": "b"}]}


@pytest.mark.parametrize("edit, words", [
    (lambda s: s["experiments"][1].update(fedmkt={"kd_weight": 0.7}), "experiments.b.fedmkt.kd_weight: 0.1 at start, "
                                                                      "0.7 now"),
    (lambda s: s["experiments"].append({"name": "c"}), 'experiments.c: absent at start, {"name": "c"'),
    (lambda s: s["experiments"].reverse(), "experiments: in the order a, b at start, b, a now"),
    (lambda s: s["experiments"].pop(), "experiments: a, b at start, a now"),
], ids=["one experiment edited", "one added", "reordered", "one dropped"])
def test_a_suite_names_the_experiment_that_changed(tmp_path, edit, words):
    config_record.record_start(tmp_path, parse_configs(yaml.safe_dump(SUITE), "suite"))
    edited = json.loads(json.dumps(SUITE))
    edit(edited)
    with pytest.raises(FedMKTError) as refused:
        config_record.check_unchanged(tmp_path, parse_configs(yaml.safe_dump(edited), "suite"))
    assert words in str(refused.value)
    assert config_record.check_unchanged(tmp_path, load_configs(_write(tmp_path, dump_configs(
        parse_configs(yaml.safe_dump(SUITE), "suite"))))) is None


def _write(folder, text):
    (folder / "config.yaml").write_text(text)
    return folder / "config.yaml"


def test_a_folder_of_an_older_fedmkt_is_accepted_with_a_note_and_recorded_from_then_on(tmp_path):
    note = config_record.check_unchanged(tmp_path, [_config()])
    assert note == (f"{tmp_path} has no run.json (written by an older fedmkt): its config.yaml is taken as it is and "
                    f"recorded now")
    assert json.loads((tmp_path / "run.json").read_text())["recorded_at"] == "resume"
    with pytest.raises(FedMKTError, match="seed: 0 at start, 2 now"):
        config_record.check_unchanged(tmp_path, [_config(seed=2)])


@pytest.mark.parametrize("text", ['{"config": ', "{}", "[1, 2]"], ids=["torn", "no digest", "a list"])
def test_an_unreadable_record_is_refused_in_one_line(tmp_path, text):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(FedMKTError) as refused:
        config_record.check_unchanged(tmp_path, [_config()])
    assert str(refused.value).startswith(f"{tmp_path / 'run.json'}: unreadable (")
    assert "\n" not in str(refused.value)


def test_a_record_without_its_config_still_refuses_by_digest(tmp_path):
    config_record.record_start(tmp_path, [_config()])
    record = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({"config_sha256": record["config_sha256"]}))
    with pytest.raises(FedMKTError, match=r"\(its sha256 differs from the one recorded at the start\)"):
        config_record.check_unchanged(tmp_path, [_config(seed=5)])


def _record_without(tmp_path, section: str, key: str) -> None:
    """run.json as an earlier fedmkt, which lacked ``section.key``, wrote it (its digest over that config)."""
    data = config_record.config_data([_config()])
    del data[section][key]
    record = {"format": 1, "config_sha256": config_record.config_digest(data), "recorded_at": "start", "config": data}
    (tmp_path / "run.json").write_text(json.dumps(record))


def test_a_key_added_since_the_start_at_its_default_resumes_with_a_note(tmp_path):
    """A run started before fedmkt learnt ``fedmkt.public_sft`` resumes: the new key takes its default."""
    _record_without(tmp_path, "fedmkt", "public_sft")
    note = config_record.check_unchanged(tmp_path, [_config()])
    assert note is not None and "keys added since take their defaults" in note


def test_a_key_added_since_the_start_set_away_from_its_default_is_refused(tmp_path):
    _record_without(tmp_path, "fedmkt", "kd_positions")
    with pytest.raises(FedMKTError, match="was changed after the run started"):
        config_record.check_unchanged(tmp_path, [_config(fedmkt={"kd_positions": "all"})])
