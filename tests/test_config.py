"""Config validation: every shipped config loads, and bad input gives one line naming the field."""

from pathlib import Path

import pytest
import yaml

from fedmkt.config import (
    METHODS,
    PRESETS,
    dump_configs,
    load_config,
    load_configs,
    load_preset,
    parse_config,
    parse_configs,
    parse_overrides,
)
from fedmkt.errors import FedMKTError

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"}, "clients": [{"model": "tiny-gpt2-bpe"}]}


@pytest.mark.parametrize("name", PRESETS)
def test_presets_validate_and_round_trip(name):
    configs = load_preset(name)
    assert parse_configs(dump_configs(configs), "dumped") == configs


def test_tiny_preset_covers_the_three_scenarios_and_every_method():
    configs = load_preset("tiny")
    kinds = {c.clients[0].model.split("-")[-1] for c in configs} | {
        m.model.split("-")[-1] for c in configs for m in c.clients}
    assert {"bpe", "unigram", "wordpiece"} <= kinds
    assert len(configs[0].clients) == 3 and len(configs[2].clients) == 1
    assert len({c.model for c in configs[1].clients}) == 1
    assert set(METHODS) == {m for c in configs for m in c.methods}


def test_suite_defaults_merge_and_errors():
    text = yaml.safe_dump({"defaults": {"task": "tiny_qa", "server": {"model": "s", "lora": {"r": 4}}},
                           "experiments": [{"name": "a", "clients": [{"model": "c"}]},
                                           {"name": "b", "clients": [{"model": "c"}], "server": {"model": "t"}}]})
    a, b = parse_configs(text, "suite.yaml")
    assert a.server.lora.r == 4 and b.server.lora.r == 4 and b.server.model == "t"
    with pytest.raises(FedMKTError, match=r"suite.yaml \(experiments.1\): unknown key 'sed'"):
        parse_configs(yaml.safe_dump({"experiments": [{**MINIMAL, "name": "a"}, {**MINIMAL, "name": "b", "sed": 1}]}),
                      "suite.yaml")
    with pytest.raises(FedMKTError, match="distinct 'name's"):
        parse_configs(yaml.safe_dump({"experiments": [MINIMAL, MINIMAL]}), "suite.yaml")


@pytest.mark.parametrize(
    "path", sorted((REPO / "configs").rglob("*.yaml")), ids=lambda p: str(p.relative_to(REPO / "configs"))
)
def test_shipped_configs_validate_and_open_with_their_command(path):
    assert load_configs(path)
    assert path.read_text().startswith("# fedmkt "), "each config's first line is the command that runs it"


def test_readme_config_example_is_the_shipped_example_and_yaml_off_means_off():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shipped = (REPO / "configs" / "example.yaml").read_text(encoding="utf-8")
    assert f"```yaml\n{shipped}```" in readme
    assert load_config(REPO / "configs" / "example.yaml").runtime.autocast == "off"  # YAML's bare off is false


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
        ({"runtime": {"autocast": True}}, "'runtime.autocast': YAML reads on/yes/true as true; write bfloat16 or auto"),
        ({"data": {"partition": False}}, "quote the value (got False)"),
        ({"fedmkt": {"kd_positions": "prompt"}}, "'fedmkt.kd_positions': Input should be 'answer' or 'all'"),
        ({"fedmkt": {"public_sft": False}}, "'fedmkt.public_sft': false makes the public-set loss KD alone: set "
                                            "fedmkt.kd_weight to 1 (is 0.1) and fedmkt.unmatched_weight to 0 (is 1.0)"),
        ({"fedmkt": {"public_sft": False, "kd_weight": 0.0, "unmatched_weight": 0.0}}, "kd_weight to 1 (is 0.0)"),
        ({"fedmkt": {"public_sft": False, "kd_weight": 1.0}}, "fedmkt.unmatched_weight to 0 (is 1.0)"),
        ({"fedmkt": {"clients_per_round": 0}}, "'fedmkt.clients_per_round': expected a count of clients (1, 2, ...), "
                                               "a fraction in (0, 1], or null for all (got 0)"),
        ({"fedmkt": {"clients_per_round": 1.5}}, "'fedmkt.clients_per_round': expected a count of clients"),
        ({"fedmkt": {"clients_per_round": True}}, "'fedmkt.clients_per_round': expected a count of clients"),
        ({"fedmkt": {"clients_per_round": 2}}, "fedmkt.clients_per_round is 2, but the experiment has 1 client(s)"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(patch, expected):
    with pytest.raises(FedMKTError) as info:
        parse_config({**MINIMAL, **patch}, "x.yaml")
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("x.yaml: ")


def test_public_answers_and_positions_default_to_the_papers_training_and_pure_kd_is_one_setting():
    fedmkt = parse_config(MINIMAL, "x.yaml").fedmkt
    assert (fedmkt.public_sft, fedmkt.kd_positions) == (True, "answer")
    pure = {"public_sft": False, "kd_weight": 1.0, "unmatched_weight": 0.0, "kd_positions": "all"}
    fedmkt = parse_config({**MINIMAL, "fedmkt": pure}, "x.yaml").fedmkt
    assert (fedmkt.public_sft, fedmkt.kd_weight, fedmkt.unmatched_weight, fedmkt.kd_positions) == (False, 1, 0, "all")


def test_every_client_takes_part_and_shares_its_base_by_default_and_a_sample_is_a_count_or_a_fraction():
    config = parse_config(MINIMAL, "x.yaml")
    assert (config.fedmkt.clients_per_round, config.runtime.share_base) == (None, True)
    two = {**MINIMAL, "clients": [{"model": "tiny-gpt2-bpe"}] * 2}
    for per_round in (2, 0.5):
        fedmkt = parse_config({**two, "fedmkt": {"clients_per_round": per_round}}, "x.yaml").fedmkt
        assert fedmkt.clients_per_round == per_round and type(fedmkt.clients_per_round) is type(per_round)


def test_missing_required_key():
    with pytest.raises(FedMKTError, match="missing required key 'task'"):
        parse_config({k: v for k, v in MINIMAL.items() if k != "task"}, "x.yaml")


DOMAINS = {"server": {"model": "tiny-llama-unigram"},
           "domains": [{"task": "tiny_qa", "private_size": 20}, {"task": "tiny_gen", "eval_size": 30}],
           "clients": [{"model": "tiny-gpt2-bpe", "domains": ["tiny_qa"]},
                       {"model": "tiny-opt-unigram", "domains": ["tiny_gen", "tiny_qa"]}]}


def test_a_domain_federation_names_its_domains_and_round_trips():
    config = parse_config(DOMAINS, "x.yaml")
    assert config.task is None and config.task_label == "tiny_qa+tiny_gen"
    assert config.task_fields() == [("domains.0.task", "tiny_qa"), ("domains.1.task", "tiny_gen")]
    assert [d.private_size for d in config.domains] == [20, None] and config.clients[1].domains == ["tiny_gen",
                                                                                                   "tiny_qa"]
    assert parse_configs(dump_configs([config]), "dumped") == [config]
    assert parse_config(MINIMAL, "x.yaml").domains == [] and parse_config(MINIMAL, "x.yaml").task_fields() == [
        ("task", "tiny_qa")]


def _with(patch):
    data = yaml.safe_load(yaml.safe_dump(DOMAINS))
    patch(data)
    return data


@pytest.mark.parametrize(("patch", "expected"), [
    (lambda d: d["clients"][0].update(domains=["tiny_q"]),
     "x.yaml: 'clients.0.domains': 'tiny_q' is an unknown domain (did you mean 'tiny_qa'?); expected one of the "
     "run's domains: tiny_qa, tiny_gen"),
    (lambda d: d["clients"][1].update(domains=["tiny_gen", "sciq"]),
     "x.yaml: 'clients.1.domains': 'sciq' is a task, but not a domain of this run (add it to domains:)"),
    (lambda d: d["domains"].append({"task": "sciqq"}), "x.yaml: 'domains.2.task': unknown task 'sciqq' (did you "
                                                       "mean 'sciq'?)"),
    (lambda d: d["domains"].append({"task": "tiny_qa"}), "x.yaml: 'domains.2.task': 'tiny_qa' is already "
                                                         "domains.0's"),
    (lambda d: d["clients"][0].update(domains=[]), "x.yaml: 'clients.0.domains': expected the domains this "
                                                   "client's private data comes from"),
    (lambda d: d["clients"][0].update(domains=["tiny_qa", "tiny_qa"]), "'clients.0.domains': a domain is listed "
                                                                       "twice"),
    (lambda d: d["server"].update(domains=["tiny_qa"]), "x.yaml: 'server.domains': the server holds no private "
                                                        "data"),
    (lambda d: d.update(task="tiny_qa"), "x.yaml: set task (one task split among the clients) or domains (each "
                                         "client its own), not both"),
    (lambda d: d.update(task="tiny_qa", domains=[]), "x.yaml: 'clients.0.domains': a client's domains need the "
                                                     "top-level domains: list instead of task"),
    (lambda d: d.pop("domains"), "x.yaml: missing required key 'task' (or 'domains')"),
    (lambda d: d["domains"][0].update(private_size=0), "'domains.0.private_size': Input should be greater than or "
                                                       "equal to 1"),
    (lambda d: d["domains"][0].update(size=3), "unknown key 'domains.0.size'"),
])
def test_a_bad_domain_config_is_one_line_naming_the_field(patch, expected):
    with pytest.raises(FedMKTError) as info:
        parse_config(_with(patch), "x.yaml")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_domain_overrides_and_dataset_paths_are_taken_as_for_task(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "mine.jsonl").write_text("")
    data = _with(lambda d: d["domains"].append({"task": "./mine.jsonl"}))
    (tmp_path / "exp" / "run.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    loaded = load_configs(tmp_path / "exp" / "run.yaml", parse_overrides(["domains.1.eval_size=7"]))[0]
    assert loaded.domains[2].task == str((tmp_path / "exp" / "mine.jsonl").resolve()) and loaded.domains[2].label == \
        "mine"
    assert loaded.domains[1].eval_size == 7
    data["domains"][2]["task"] = "./absent.jsonl"
    (tmp_path / "exp" / "run.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(FedMKTError, match=r"run.yaml: 'domains.2.task': dataset not found at .*absent.jsonl"):
        load_configs(tmp_path / "exp" / "run.yaml")


def test_file_errors(tmp_path):
    with pytest.raises(FedMKTError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(FedMKTError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(FedMKTError, match="empty.yaml: the file is empty"):
        load_config(empty)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(FedMKTError, match="latin.yaml: not UTF-8"):
        load_config(latin)
    with pytest.raises(FedMKTError, match="expected a mapping"):
        load_config(listed)


def test_unknown_preset_suggests():
    with pytest.raises(FedMKTError, match="did you mean 'tiny'"):
        load_preset("tiyn")


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"methods": ["LLM2SLM"], "clients": [{"model": "a"}, {"model": "b"}]}, "exactly one client"),
        ({"methods": ["FedAvg"], "clients": [{"model": "a"}, {"model": "b"}]}, "the same model"),
        ({"methods": ["FedAvg"]}, "at least two clients"),
        ({"fedmkt": {"kd_weight": 1.5}}, "'fedmkt.kd_weight'"),
    ],
)
def test_methods_must_fit_the_scenario(patch, expected):
    with pytest.raises(FedMKTError, match=expected):
        parse_config({**MINIMAL, **patch}, "x.yaml")


def test_model_folders_are_taken_from_the_config_files_folder(tmp_path, monkeypatch):
    experiment = tmp_path / "exp"
    (experiment / "models" / "mine").mkdir(parents=True)
    config = experiment / "run.yaml"
    config.write_text("task: tiny_qa\nserver: {model: models/mine}\nclients: [{model: ./models/absent}, "
                      "{model: HuggingFaceTB/SmolLM2-360M}, {model: smollm2-135m}]\n")
    monkeypatch.chdir(tmp_path)  # the working directory is not the config's folder
    loaded = load_config(config)
    assert loaded.server.model == str((experiment / "models" / "mine").resolve())  # exists next to the config
    assert [c.model for c in loaded.clients] == [
        str((experiment / "models" / "absent").resolve()),  # ./ is always a path: the error will name it in full
        "HuggingFaceTB/SmolLM2-360M",  # no such folder next to the config: a hub id
        "smollm2-135m",  # a short name
    ]
    assert load_config(experiment / "run.yaml").model_dump() == loaded.model_dump()  # the same from anywhere


# -- hostile files: size caps and error lines of bounded length -----------------------------------

def test_a_file_over_the_size_cap_is_refused_unread(tmp_path):
    from fedmkt.config import MAX_CONFIG_BYTES

    text = yaml.safe_dump(MINIMAL)
    big = tmp_path / "big.yaml"
    big.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text)) + "\n")  # one byte over: refused
    with pytest.raises(FedMKTError) as info:
        load_config(big)
    assert str(info.value) == f"{big}: larger than {MAX_CONFIG_BYTES // 1024} KiB; expected an experiment config " \
                              "(a few KB)"
    big.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text) - 1) + "\n")  # exactly at the cap: read
    assert load_config(big).task == "tiny_qa"


@pytest.mark.parametrize("patch", [
    {"task": "t" * 1_000_000},
    {"methods": ["m" * 1_000_000]},
    {"fedmkt": {"top_k": "k" * 1_000_000}},
    {"data": {"partition": "p" * 1_000_000}},
    {"k" * 1_000_000: 1},
    {"clients": [{"model": "a", "name": "n" * 500_000}, {"model": "a", "name": "n" * 500_000}]},
    {"server": {"model": "a", "lora": {"target_modules": [["deep"] * 10] * 100_000}}},
])
def test_a_huge_value_in_a_bad_field_gives_a_short_line(patch):
    with pytest.raises(FedMKTError) as info:
        parse_config({**MINIMAL, **patch}, "x.yaml")
    message = str(info.value)
    assert message.startswith("x.yaml: ") and "\n" not in message
    assert len(message) < 800, len(message)


def test_a_suite_echoes_names_briefly():
    text = yaml.safe_dump({"experiments": [{**MINIMAL, "name": "e" * 100_000}] * 2})
    with pytest.raises(FedMKTError, match="need distinct 'name's") as info:
        parse_configs(text, "s.yaml")
    assert len(str(info.value)) < 800
    with pytest.raises(FedMKTError, match="unknown key 'xxx") as info:
        parse_configs(yaml.safe_dump({"experiments": [MINIMAL], "x" * 100_000: 1}), "s.yaml")
    assert len(str(info.value)) < 800


@pytest.mark.parametrize("seed, ok", [(0, True), (2**32 - 1, True), (2**32, False), (-1, False)])
def test_seed_is_a_number_numpy_accepts(seed, ok):
    """numpy's global seed takes 0 .. 2**32-1; anything else would fail at the first phase, not here."""
    if ok:
        assert parse_config({**MINIMAL, "seed": seed}, "x.yaml").seed == seed
    else:
        with pytest.raises(FedMKTError, match="'seed'"):
            parse_config({**MINIMAL, "seed": seed}, "x.yaml")


def test_an_alias_bomb_in_a_config_file_is_refused_in_one_line(tmp_path):
    def bomb(levels: int) -> str:
        nested = [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
        return "\n".join([yaml.safe_dump(MINIMAL), "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
                          *nested, f"seed: *a{levels}", ""])

    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9))
    with pytest.raises(FedMKTError, match=r"bomb.yaml: with its aliases \(\*name\) expanded"):
        load_configs(path)
    path.write_text(bomb(3))  # small enough to load: the field check names it, briefly
    with pytest.raises(FedMKTError, match="'seed': Input should be a valid integer") as info:
        load_configs(path)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("patch, field", [
    ({"task": "./" + "a" * 5000 + ".jsonl"}, "'task'"),
    ({"task": "./a\0b.jsonl"}, "'task'"),
    ({"clients": [{"model": "org/" + "b" * 5000}]}, "'model'"),
    ({"server": {"model": "./m\0"}}, "'model'"),
])
def test_paths_the_system_cannot_look_up_are_one_short_line(tmp_path, patch, field):
    """A name longer than the file system allows, or with a NUL byte, names the field instead of an OSError."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, **patch}))
    with pytest.raises(FedMKTError) as info:
        load_configs(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: cannot look up the path") and len(message) < 500


@pytest.mark.parametrize("given, expected", [
    (None, []), ("none", []), ("all", ["tensorboard", "mlflow"]), ("mlflow", ["mlflow"]),
    (["tensorboard", "tensorboard"], ["tensorboard"]), (["all"], ["tensorboard", "mlflow"]),
])
def test_report_to_reads_as_transformers_takes_it(given, expected):
    config = parse_config({**MINIMAL, "tracking": {"report_to": given}}, "test")
    assert config.tracking.report_to == expected


def test_overrides_apply_to_every_experiment_of_a_suite_over_its_defaults():
    suite = yaml.safe_dump({"defaults": {**MINIMAL, "fedmkt": {"rounds": 4}},
                            "experiments": [{"name": "a"}, {"name": "b", "fedmkt": {"top_k": 8}}]})
    configs = parse_configs(suite, "suite.yaml", parse_overrides(["fedmkt.rounds=2", "data.eval_size=null"]))
    assert [(c.fedmkt.rounds, c.fedmkt.top_k, c.data.eval_size) for c in configs] == [(2, 128, None), (2, 8, None)]
    with pytest.raises(FedMKTError, match=r"^suite.yaml \(experiments.0\), override 'fedmkt.top_k=0': 'fedmkt.top_k'"):
        parse_configs(suite, "suite.yaml", parse_overrides(["fedmkt.top_k=0"]))


def test_a_path_in_an_override_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "data.jsonl").write_text('{"prompt": "p", "target": "t"}\n')
    (tmp_path / "cfg" / "c.yaml").write_text(yaml.safe_dump(MINIMAL))
    monkeypatch.chdir(tmp_path)
    (config,) = load_configs(tmp_path / "cfg" / "c.yaml", parse_overrides(["task=./data.jsonl"]))
    assert config.task == str(tmp_path / "data.jsonl")


def test_the_later_of_two_overrides_of_one_key_wins():
    config = parse_config(MINIMAL, "test", parse_overrides(["seed=1", "seed=7"]))
    assert config.seed == 7


def test_an_adapter_folder_is_taken_from_the_config_files_folder(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "run.yaml").write_text(yaml.safe_dump({**MINIMAL, "server": {
        "model": "tiny-llama-unigram", "adapter": "../runs/a/adapters/Centralized-LLM/server"}}))
    monkeypatch.chdir(tmp_path / "exp")
    loaded = load_configs(tmp_path / "exp" / "run.yaml", parse_overrides(["clients.0.adapter=./mine"]))[0]
    assert loaded.server.adapter == str((tmp_path / "runs" / "a" / "adapters" / "Centralized-LLM" / "server").resolve())
    assert loaded.clients[0].adapter == str((tmp_path / "exp" / "mine").resolve())  # an override's: from here
    assert parse_config(MINIMAL, "x.yaml").server.adapter is None
