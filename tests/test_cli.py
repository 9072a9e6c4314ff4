"""The `fedmkt` command: one-line errors with exit status 2, validate, tasks, and a tiny run."""

import json
import subprocess
import sys

import yaml


def fedmkt(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedmkt.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_bad_config_is_one_line_on_stderr(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"task": "tiny_qa", "sead": 3, "server": {"model": "x"},
                                      "clients": [{"model": "y"}]}))
    result = fedmkt("run", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {config}: unknown key 'sead' (did you mean 'seed'?)"]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = fedmkt("--debug", "run", str(tmp_path / "missing.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr and "config file not found" in result.stderr


def test_unknown_model_lists_the_known_names(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"task": "tiny_qa", "server": {"model": "no-such-model-xyz"},
                                      "clients": [{"model": "tiny-gpt2-bpe"}], "methods": ["LLM-ZS"],
                                      "data": {"public_size": 4, "private_size": 4, "eval_size": 4}}))
    result = fedmkt("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-model-xyz" in line and "gemma3-270m" in line


def test_validate_prints_every_default(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
                                      "clients": [{"model": "tiny-gpt2-bpe"}]}))
    result = fedmkt("validate", str(config))
    assert result.returncode == 0
    resolved = yaml.safe_load(result.stdout)  # what was checked follows as YAML comments
    assert resolved["fedmkt"]["top_k"] == 128 and resolved["clients"][0]["name"] == "client-1"
    assert "# checked: experiment: fedmkt.top_k 128 within every vocabulary" in result.stdout


def test_tasks_lists_the_registry():
    result = fedmkt("tasks")
    assert result.returncode == 0
    for name in ("arc_easy", "boolq", "natural_instructions", "tiny_qa"):
        assert name in result.stdout


def test_out_folder_that_holds_files_is_refused(tmp_path):
    (tmp_path / "x").write_text("keep me")
    result = fedmkt("run", "--preset", "tiny", "--out", str(tmp_path))
    assert result.returncode == 2 and "already holds files" in result.stderr
    assert (tmp_path / "x").read_text() == "keep me"


def test_run_writes_results(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
                                      "clients": [{"model": "tiny-gpt2-bpe"}], "methods": ["SLM-ZS"],
                                      "data": {"public_size": 4, "private_size": 4, "eval_size": 8}}))
    result = fedmkt("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {tuple(sorted(r)) for r in rows} == {tuple(sorted(
        ["scenario", "method", "model", "role", "participant", "task", "metric", "value", "n", "ci_low", "ci_high",
         "round"]))}
    assert "SLM-ZS" in result.stdout


def test_the_cli_starts_without_importing_torch():
    """`fedmkt --help` must be instant: torch and transformers load only inside the commands that need them."""
    code = "import sys, fedmkt.cli; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_picks_experiments_of_a_suite_by_name():
    from fedmkt.cli import _select
    from fedmkt.config import load_preset

    suite = load_preset("tiny")
    assert [c.name for c in _select(suite, ["tiny-one-to-one", "tiny-heterogeneous"], "tiny")] == [
        "tiny-heterogeneous", "tiny-one-to-one"]  # the suite's order, not the option's
    assert _select(suite, None, "tiny") == suite


def test_only_with_an_unknown_name_lists_the_suite(tmp_path):
    result = fedmkt("run", "--preset", "tiny", "--only", "tiny-hetero", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "tiny-hetero" in result.stderr and "tiny-heterogeneous" in result.stderr


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    result = fedmkt("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"fedmkt {version('fedmkt')}"


def test_debug_anywhere_on_the_line_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "missing.yaml")
    for args in (["run", missing, "--debug"], ["run", "--debug", missing], ["validate", missing, "--debug"]):
        result = fedmkt(*args)
        assert result.returncode != 0 and "Traceback" in result.stderr and "config file not found" in result.stderr
    result = fedmkt("validate", missing)
    assert result.returncode == 2 and result.stderr.strip() == f"error: config file not found: {missing}"


def test_debug_after_a_double_dash_is_an_argument_not_the_flag():
    from fedmkt.cli import _without_debug

    assert _without_debug(["run", "--debug", "x.yaml", "--", "--debug"]) == (["run", "x.yaml", "--", "--debug"], True)
    assert _without_debug(["run", "x.yaml"]) == (["run", "x.yaml"], False)


def test_overrides_reach_the_run_folders_config(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"task": "tiny_qa", "server": {"model": "tiny-llama-unigram"},
                                      "clients": [{"model": "tiny-gpt2-bpe"}], "methods": ["LLM-ZS"],
                                      "data": {"public_size": 4, "private_size": 4, "eval_size": 8}}))
    result = fedmkt("run", str(config), "methods=[SLM-ZS]", "data.eval_size=4", "clients.0.name=edge",
                    "--out", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    written = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert written["methods"] == ["SLM-ZS"] and written["data"]["eval_size"] == 4
    assert written["clients"][0]["name"] == "edge"
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {(r["method"], r["participant"], r["n"]) for r in rows} == {("SLM-ZS", "edge", 4)}
