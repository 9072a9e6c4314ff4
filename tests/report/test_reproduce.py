"""The command that reproduces a run folder: found by matching the folder's resolved config to a config file."""

from pathlib import Path

from fedmkt.config import dump_configs, parse_configs
from fedmkt.report.reproduce import reproduce_command

PARTS = "task: tiny_qa\nserver: {model: tiny-llama-unigram}\n"
SINGLE = "# fedmkt run single.yaml\nname: single\n" + PARTS + "clients: [{model: tiny-gpt2-bpe}]\n"
SUITE = ("# fedmkt run suite.yaml\ndefaults:\n  task: tiny_qa\n  server: {model: tiny-llama-unigram}\n"
         "experiments:\n  - {name: one, clients: [{model: tiny-gpt2-bpe}]}\n"
         "  - {name: two, clients: [{model: tiny-gpt2-bpe}, {model: tiny-gpt2-bpe}]}\n")


def _run_folder(path: Path, yaml_text: str) -> Path:
    """A run folder as the runner leaves it: the resolved config (one experiment or a suite) and the logs."""
    configs = parse_configs(yaml_text, "test")
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(dump_configs(configs))
    if len(configs) == 1:
        (path / "metrics.jsonl").write_text("")
    else:
        for config in configs:
            _run_folder(path / config.name, dump_configs([config]))
    return path


def _configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "single.yaml").write_text(SINGLE)
    (folder / "suite.yaml").write_text(SUITE)
    (folder / "notes.yaml").write_text("just: notes\n")  # not a config: skipped
    return folder


def test_an_experiment_folder_names_its_config_file(tmp_path):
    configs = _configs(tmp_path)
    run = _run_folder(tmp_path / "runs" / "single", SINGLE)
    found = reproduce_command(run, [configs])
    assert found.command == f"fedmkt run {configs / 'single.yaml'} --out {run}"
    assert found.note == ""


def test_a_suites_experiment_names_the_suite_and_the_suite_folder(tmp_path):
    configs = _configs(tmp_path)
    suite = _run_folder(tmp_path / "runs" / "suite", SUITE)
    found = reproduce_command(suite / "two", [configs])
    assert found.command == f"fedmkt run {configs / 'suite.yaml'} --out {suite}"
    assert "whole suite" in found.note and str(suite / "two") in found.note


def test_a_preset_run_names_the_preset(tmp_path):
    from fedmkt.config import preset_text

    suite = _run_folder(tmp_path / "runs" / "tiny", preset_text("tiny"))
    found = reproduce_command(suite / "tiny-one-to-one", [])
    assert found.command == f"fedmkt run --preset tiny --out {suite}"


def test_an_edited_config_falls_back_to_the_folders_own_copy_never_to_another_run(tmp_path):
    configs = _configs(tmp_path)
    run = _run_folder(tmp_path / "runs" / "edited", SINGLE.replace("tiny-gpt2-bpe", "tiny-opt-unigram"))
    _run_folder(configs / "old-run", SINGLE.replace("tiny-gpt2-bpe", "tiny-opt-unigram"))  # a run kept in configs/
    found = reproduce_command(run, [configs])
    assert found.command == f"fedmkt run {run / 'config.yaml'} --out <new folder>"
    assert "no config file matches" in found.note


def test_one_experiment_of_a_suite_run_on_its_own_names_the_suite_with_only(tmp_path):
    configs = _configs(tmp_path)
    (two,) = [c for c in parse_configs(SUITE, "test") if c.name == "two"]
    run = _run_folder(tmp_path / "runs" / "two", dump_configs([two]))  # as `fedmkt run suite.yaml --only two`
    found = reproduce_command(run, [configs])
    assert found.command == f"fedmkt run {configs / 'suite.yaml'} --only two --out {run}"
