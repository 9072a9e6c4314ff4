"""Bad input through the real `fedmkt` command: one line on stderr naming the file or field, exit 2, no traceback.

Most cases call the console-script entry point `fedmkt.cli.main` in this process (a subprocess
costs seconds of imports per case); stdout and stderr are captured at the file-descriptor level,
so warnings or library logging would show up too. A few cases repeat in a real subprocess, and
``--debug`` is checked to bring the traceback back. ``BAD_INPUTS`` counts the cases tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fedmkt.cli import main
from fedmkt.errors import FedMKTError
from fedmkt.models.tiny import build_tiny_model

BASE = {
    "task": "tiny_qa",
    "server": {"model": "tiny-llama-unigram"},
    "clients": [{"model": "tiny-gpt2-bpe"}],
    "data": {"public_size": 4, "private_size": 4, "eval_size": 4},
    "methods": ["SLM-ZS"],
}


def _merge(base: dict, change: dict) -> dict:
    out = dict(base)
    for key, value in change.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture
def cli(monkeypatch, capfd):
    """``cli(*args) -> (exit code, stdout, stderr)`` through `fedmkt.cli.main` in this process."""

    def call(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["fedmkt", *args])
        monkeypatch.delenv("FEDMKT_DEBUG", raising=False)
        capfd.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            os.environ.pop("FEDMKT_DEBUG", None)  # --debug sets it for the rest of the process
        out, err = capfd.readouterr()
        return code, out, err

    return call


def _one_line_error(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- configs: `fedmkt validate` and `fedmkt run` stop before doing anything ----------------------

CONFIG_CASES = [  # (case, change to BASE, words the line must hold besides the file name)
    ("unknown key", {"sead": 1}, ["unknown key 'sead'", "did you mean 'seed'"]),
    ("unknown nested key", {"fedmkt": {"topk": 8}}, ["unknown key 'fedmkt.topk'", "did you mean 'top_k'"]),
    ("typo in a participant", {"server": {"modle": "x"}}, ["'server.modle'", "did you mean 'model'"]),
    ("wrong type", {"fedmkt": {"rounds": "two"}}, ["'fedmkt.rounds'", "'two'"]),
    ("clients not a list", {"clients": {"model": "tiny-gpt2-bpe"}}, ["'clients'"]),
    ("negative lr", {"server": {"train": {"lr": -0.1}}}, ["'server.train.lr'", "greater than 0"]),
    ("top_k 0", {"fedmkt": {"top_k": 0}}, ["'fedmkt.top_k'", "greater than or equal to 1"]),
    ("kd_weight above 1", {"fedmkt": {"kd_weight": 1.5}}, ["'fedmkt.kd_weight'", "less than or equal to 1"]),
    ("rounds 0", {"fedmkt": {"rounds": 0}}, ["'fedmkt.rounds'"]),
    ("temperature 0", {"fedmkt": {"temperature": 0}}, ["'fedmkt.temperature'"]),
    ("lora rank 0", {"server": {"lora": {"r": 0}}}, ["'server.lora.r'"]),
    ("dropout 1", {"server": {"lora": {"dropout": 1.0}}}, ["'server.lora.dropout'"]),
    ("beta 1.2", {"server": {"train": {"betas": [0.9, 1.2]}}}, ["'server.train.betas'", "each beta"]),
    ("eval_size 0", {"data": {"eval_size": 0}}, ["'data.eval_size'"]),
    ("dirichlet alpha 0", {"data": {"dirichlet_alpha": 0}}, ["'data.dirichlet_alpha'"]),
    ("unknown partition", {"data": {"partition": "random"}}, ["'data.partition'", "'iid' or 'dirichlet'"]),
    ("unknown method", {"methods": ["FedMKT"]}, ["unknown method 'FedMKT'", "did you mean"]),
    ("LLM2SLM with two clients", {"methods": ["LLM2SLM"], "clients": [{"model": "a"}, {"model": "b"}]},
     ["LLM2SLM", "exactly one client"]),
    ("FedAvg over different models", {"methods": ["FedAvg"], "clients": [{"model": "a"}, {"model": "b"}]},
     ["FedAvg", "same model"]),
    ("duplicate names", {"clients": [{"model": "a", "name": "x"}, {"model": "a", "name": "x"}]}, ["unique"]),
    ("missing server", {"server": None}, ["'server'"]),
    ("unknown task", {"task": "arc_eazy"}, ["'task': unknown task 'arc_eazy'", "did you mean 'arc_easy'"]),
    ("missing dataset file", {"task": "./no-such-data.jsonl"}, ["'task': dataset not found", "no-such-data.jsonl"]),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case, change, words", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configs(cli, tmp_path, command, case, change, words):
    data = {k: v for k, v in _merge(BASE, change).items() if v is not None}
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    args = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "run" else []
    code, out, err = cli(command, str(config), *args)
    _one_line_error(code, err, str(config), *words)
    assert not (tmp_path / "out").exists(), "nothing is written for a bad config"


RAW_CONFIGS = [  # (case, file bytes, words)
    ("empty file", b"", ["the file is empty"]),
    ("not YAML", b"task: [tiny_qa\nserver: {", ["not valid YAML"]),
    ("a list at the top", b"- task: tiny_qa\n", ["expected a mapping"]),
    ("not UTF-8", b"task: caf\xe9\n", ["not UTF-8 text"]),
    ("suite with a bad key", b"experiments: []\nextra: 1\n", ["unknown key 'extra' in a suite"]),
]


@pytest.mark.parametrize("case, raw, words", RAW_CONFIGS, ids=[c[0] for c in RAW_CONFIGS])
def test_unreadable_config_files(cli, tmp_path, case, raw, words):
    config = tmp_path / "raw.yaml"
    config.write_bytes(raw)
    _one_line_error(*cli("validate", str(config))[::2], str(config), *words)


def test_missing_config_file_and_unknown_preset(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    _one_line_error(*cli("validate", str(missing))[::2], "config file not found", str(missing))
    _one_line_error(*cli("run", str(missing))[::2], "config file not found", str(missing))
    _one_line_error(*cli("run", "--preset", "tnyi")[::2], "unknown preset 'tnyi'", "did you mean 'tiny'")


# -- dataset files: `fedmkt run` names the file and the line -------------------------------------

def _mc(i: int) -> dict:
    return {"question": f"What is {i} plus 1?", "choices": [str(i + 1), str(i + 2)], "answer": 0, "id": f"q{i}"}


BAD_RECORDS = [  # (case, line 5 of the file, words)
    ("not JSON", b'{"question": "q", "choices": ["a", "b"]', ["not valid JSON"]),
    ("not an object", b"[1, 2]", ["a JSON list"]),
    ("not UTF-8", b'{"question": "caf\xe9", "choices": ["a", "b"], "answer": 0}', ["not UTF-8 text"]),
    ("missing answer", {"question": "q", "choices": ["a", "b"]}, ["missing field 'answer'"]),
    ("missing question", {"choices": ["a", "b"], "answer": 0}, ["missing field 'question'"]),
    ("empty answer", {"question": "q", "choices": ["a", "b"], "answer": " "}, ["field 'answer' is empty"]),
    ("empty choice", {"question": "q", "choices": ["a", ""], "answer": 0}, ["choice 1 is ''"]),
    ("index out of range", {"question": "q", "choices": ["a", "b"], "answer": 5}, ["answer index 5 out of range"]),
    ("answer not a choice", {"question": "q", "choices": ["a", "b"], "answer": "c"}, ["not one of the choices"]),
    ("unknown field", {"question": "q", "choices": ["a", "b"], "answer": 0, "lable": 1}, ["unknown field 'lable'"]),
    ("duplicate id", {**_mc(1), "id": "q2"}, ["id 'q2' already used on line 3"]),
    ("generation record", {"prompt": "p", "target": "t"}, ["a generation record in a multiple choice dataset"]),
]


@pytest.mark.parametrize("case, bad, words", BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_bad_dataset_records(cli, tmp_path, case, bad, words):
    lines = [json.dumps(_mc(i)).encode() for i in range(20)]
    lines[4] = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
    (tmp_path / "data.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**BASE, "task": "./data.jsonl"}))  # relative to the config file
    code, out, err = cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    _one_line_error(code, err, f"{tmp_path / 'data.jsonl'}:5: ", "expected", *words)


def test_bad_dataset_files(cli, tmp_path):
    config = tmp_path / "c.yaml"
    (tmp_path / "empty.jsonl").write_bytes(b"\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "data.csv").write_text("question,answer\n")
    for task, words in [("./empty.jsonl", "no records"), ("./folder", "has no train.jsonl"),
                        ("./data.csv", "must be JSON lines")]:
        config.write_text(yaml.safe_dump({**BASE, "task": task}))
        out_dir = tmp_path / f"out-{task[2:]}"
        _one_line_error(*cli("run", str(config), "--out", str(out_dir), "--no-progress")[::2],
                        str((tmp_path / task).resolve()), words)


def test_a_valid_local_dataset_runs(cli, tmp_path):
    """The control case: the same file layout with good records runs to results."""
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(_mc(i)) + "\n" for i in range(16)))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**BASE, "task": "data.jsonl"}))
    code, out, err = cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 0, err
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["method"] for r in rows} == {"SLM-ZS"} and rows[0]["n"] == 4
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["task"] == str(tmp_path / "data.jsonl")


# -- models ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broken_model_folders(tmp_path_factory) -> dict[str, Path]:
    """A saved tiny model, and copies without tokenizer files / with an empty vocabulary / a bad config."""
    root = tmp_path_factory.mktemp("models")
    model, tokenizer = build_tiny_model("tiny-gpt2-bpe", seed=0)
    folders = {}
    for name in ("notok", "emptyvocab", "badconfig"):
        folder = folders[name] = root / name
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (folders["notok"] / f).unlink()
    spec = json.loads((folders["emptyvocab"] / "tokenizer.json").read_text())
    spec["model"]["vocab"], spec["model"]["merges"], spec["added_tokens"] = {}, [], []
    (folders["emptyvocab"] / "tokenizer.json").write_text(json.dumps(spec))
    (folders["badconfig"] / "config.json").write_text("{not json")
    return folders


MODEL_CASES = [  # (case, server model, words)
    ("unknown name", "no-such-model-xyz", ["'server.model'", "'no-such-model-xyz' cannot be fetched", "tiny-<arch>"]),
    ("malformed tiny name", "tiny-gpt2", ["tiny model name 'tiny-gpt2' is malformed"]),
    ("unknown tiny architecture", "tiny-mamba-bpe", ["unknown architecture 'mamba'"]),
    ("missing folder", "./models/none", ["does not exist"]),
    ("folder without tokenizer", "notok", ["has no tokenizer", "tokenizer.json"]),
    ("tokenizer with no vocabulary", "emptyvocab", ["has no vocabulary"]),
    ("unreadable config", "badconfig", ["unreadable config.json"]),
]


@pytest.mark.parametrize("case, model, words", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_bad_models(cli, tmp_path, broken_model_folders, case, model, words):
    model = str(broken_model_folders.get(model, model))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**BASE, "server": {"model": model}, "methods": ["LLM-ZS"]}))
    _one_line_error(*cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")[::2], *words)


def test_top_k_larger_than_a_vocabulary(cli, tmp_path):
    config = tmp_path / "c.yaml"
    quick = {"train": {"max_steps": 1}}  # while the check is not wired, the run goes through: keep it short
    config.write_text(yaml.safe_dump({**BASE, "fedmkt": {"top_k": 100_000, "rounds": 1},
                                      "server": {"model": "tiny-llama-unigram", **quick},
                                      "clients": [{"model": "tiny-gpt2-bpe", **quick}], "eval": {"bootstrap": 100},
                                      "methods": ["FedMKT-SLM", "FedMKT-LLM"]}))
    _one_line_error(*cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")[::2],
                    "'fedmkt.top_k' is 100000", "tiny-gpt2-bpe")


# -- run folders: paths that are no folder, runs that are no run, a folder another process runs ------

FOLDER_CASES = [  # (case, arguments given tmp_path, words the line must hold)
    ("--out an existing file", lambda t: ["run", "c.yaml", "--out", str(t / "file")],
     ["--out", "file is a file; expected a new or empty folder"]),
    ("--out inside a file", lambda t: ["run", "c.yaml", "--out", str(t / "file" / "sub")],
     ["cannot use", "file/sub as a run folder: Not a directory"]),
    ("--resume a file", lambda t: ["run", "--resume", str(t / "file")], ["no config.yaml there"]),
    ("--resume a missing folder", lambda t: ["run", "--resume", str(t / "nope")], ["no config.yaml there"]),
    ("--resume with --only", lambda t: ["run", "--resume", str(t / "run"), "--only", "x"], ["drop --only"]),
    ("report --out a folder", lambda t: ["report", str(t / "run"), "--out", str(t)], ["cannot write"]),
    ("archive --to a file", lambda t: ["archive", str(t / "run"), "--to", str(t / "file")],
     ["--to", "file is a file; expected a folder"]),
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished one-phase run folder (SLM-ZS on 4 examples), made through `fedmkt run`."""
    root = tmp_path_factory.mktemp("finished")
    (root / "c.yaml").write_text(yaml.safe_dump({**BASE, "eval": {"bootstrap": 100}}))
    result = _subprocess("run", "c.yaml", "--out", "run", "--no-progress", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("case, args, words", FOLDER_CASES, ids=[c[0] for c in FOLDER_CASES])
def test_paths_that_are_no_run_folder(cli, tmp_path, finished_run, monkeypatch, case, args, words):
    _copy(finished_run, tmp_path)
    (tmp_path / "file").write_text("x")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(BASE))
    monkeypatch.chdir(tmp_path)
    _one_line_error(*cli(*args(tmp_path))[::2], *words)
    assert (tmp_path / "file").read_text() == "x"


def test_resume_of_an_edited_config_names_the_key_and_touches_nothing(cli, tmp_path, finished_run):
    run = _copy(finished_run, tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["fedmkt"]["kd_weight"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    line = _one_line_error(*cli("run", "--resume", str(run), "--no-progress")[::2],
                           f"{run / 'config.yaml'} was changed after the run started",
                           "fedmkt.kd_weight: 0.1 at start, 0.5 now")
    assert line.endswith("resuming would mix settings: restore it, or start a new run with --out")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_resume_of_a_folder_another_process_runs_is_refused(cli, tmp_path, finished_run, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "runners"))
    from test_lock import hold_from_another_process, release

    run = _copy(finished_run, tmp_path)
    holder = hold_from_another_process(run)
    try:
        _one_line_error(*cli("run", "--resume", str(run), "--no-progress")[::2],
                        f"{run} is in use: another fedmkt process (pid {holder.pid}) is running it")
    finally:
        release(holder)


def _tear_line(path: Path, number: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = lines[number - 1][: len(lines[number - 1]) // 2]
    path.write_text("".join(lines))


def test_damaged_run_files_cost_one_line_and_report_says_what_is_damaged(cli, tmp_path, finished_run):
    run = _copy(finished_run, tmp_path)
    _tear_line(run / "metrics.jsonl", 1)  # the run_start event, counted by every record
    _one_line_error(*cli("run", "--resume", str(run), "--no-progress")[::2],
                    f"{run / 'metrics.jsonl'}:1: not a JSON line", "the run's opening events are damaged")
    code, out, err = cli("report", str(run))
    assert code == 0 and "Traceback" not in err
    (warning,) = err.strip().splitlines()
    assert warning.startswith(f"warning: {run}: damaged, reported from what is readable: {run / 'metrics.jsonl'}:1: ")
    assert "**Damaged files**" in out and "| SLM-ZS |" not in out.split("**Damaged files**")[0]

    (run / "run.json").write_text('{"config_sha256": ')
    _one_line_error(*cli("run", "--resume", str(run), "--no-progress")[::2], f"{run / 'run.json'}: unreadable (")
    (run / "results.json").write_text("[{")
    _one_line_error(*cli("report", str(run))[::2], f"{run / 'results.json'}: damaged (")
    _one_line_error(*cli("archive", str(run), "--to", str(tmp_path / "kept"))[::2], f"{run / 'results.json'}: damaged")


def test_a_run_that_failed_before_its_first_phase_can_be_rerun_into_the_same_folder(cli, tmp_path):
    lines = [json.dumps(_mc(i)) for i in range(16)]
    (tmp_path / "data.jsonl").write_text("\n".join(lines[:4] + ['{"question": "q"}'] + lines[5:]) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**BASE, "task": "./data.jsonl", "eval": {"bootstrap": 100}}))
    _one_line_error(*cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")[::2], "data.jsonl:5")
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")  # fixed
    code, out, err = cli("run", str(config), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 0, err
    assert (tmp_path / "out" / "results.json").is_file()


NAME_CASES = [  # (case, change to BASE, where the run must land, or the words of its one line)
    ("NUL in the name", {"name": "a\0b"}, "runs/a_b-"),
    ("name climbing out", {"name": "../../x"}, "runs/x-"),
    ("a suite experiment climbing out", {"experiments": [{"name": "../esc"}, {"name": "b"}]},
     ["'name' '../esc' holds a '/'"]),
    ("a suite experiment with NUL", {"experiments": [{"name": "a\0"}, {"name": "b"}]}, ["'name' 'a\\x00' holds"]),
    ("a suite experiment name too long", {"experiments": [{"name": "x" * 300}, {"name": "b"}]},
     ["is longer than 200 bytes"]),
    ("a client climbing out", {"clients": [{"model": "tiny-gpt2-bpe", "name": "../../p"}]},
     ["'clients.0.name' '../../p' holds a '/'"]),
    ("a server name with a slash", {"server": {"model": "tiny-llama-unigram", "name": "s/x"}},
     ["'server.name' 's/x' holds a '/'"]),
]


@pytest.mark.parametrize("case, change, expected", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_names_never_place_files_outside_the_run_folder(cli, tmp_path, monkeypatch, case, change, expected):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    data = {"defaults": {**BASE, "eval": {"bootstrap": 100}}, **change} if "experiments" in change else {
        **BASE, "eval": {"bootstrap": 100}, **change}
    (work / "c.yaml").write_text(yaml.safe_dump(data))
    code, out, err = cli("run", "c.yaml", "--no-progress")
    if isinstance(expected, list):
        _one_line_error(code, err, *expected)
        assert not (work / "runs").exists()
    else:
        assert code == 0, err
        (folder,) = (work / "runs").iterdir()
        assert f"runs/{folder.name}".startswith(expected) and (folder / "results.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # nothing beside the working folder


BAD_INPUTS = (2 * len(CONFIG_CASES) + len(RAW_CONFIGS) + 3 + len(BAD_RECORDS) + 3 + len(MODEL_CASES)
              + len(FOLDER_CASES) + 1 + 1 + 4 + 1 + len(NAME_CASES))
"""Bad inputs tried above through the CLI (config cases count twice: validate and run)."""


# -- the real command, and --debug ----------------------------------------------------------------

def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("FEDMKT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "fedmkt.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_the_real_command_and_debug(cli, tmp_path):
    lines = [json.dumps(_mc(i)) for i in range(8)]
    lines[2] = '{"question": "q", "choices": ["a", "b"], "answer": 2}'
    (tmp_path / "data.jsonl").write_text("\n".join(lines))
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**BASE, "task": "./data.jsonl", "fedmkt": {"kd_weight": 0.5}}))
    result = _subprocess("run", "c.yaml", "--out", "out", "--no-progress", cwd=tmp_path)
    _one_line_error(result.returncode, result.stderr, "data.jsonl:3: answer index 2 out of range")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**BASE, "fedmkt": {"kd_weight": 2}}))
    result = _subprocess("validate", "bad.yaml", cwd=tmp_path)
    _one_line_error(result.returncode, result.stderr, "bad.yaml: 'fedmkt.kd_weight'")
    result = _subprocess("--debug", "validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr and "fedmkt.kd_weight" in result.stderr
    monkey_argv = ["--debug", "run", str(config), "--out", str(tmp_path / "out2"), "--no-progress"]
    with pytest.raises(FedMKTError, match="answer index 2 out of range"):  # in process: main re-raises
        cli(*monkey_argv)
    print(f"bad inputs tried through the CLI: {BAD_INPUTS}")
