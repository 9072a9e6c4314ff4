"""`fedmkt validate` and `fedmkt run` on hostile configs: one short line, exit 2, nothing written.

Kept apart from ``test_cli_bad_input.py`` (whose cases are mostly field errors) for the inputs of
issue 16: alias bombs, floods, huge values, and error text that the terminal must print literally.
"""

from __future__ import annotations

import pytest
import yaml

import test_cli_bad_input
from test_cli_bad_input import BASE

cli = test_cli_bad_input.cli  # the fixture: `fedmkt.cli.main` in this process, output captured


def one_line_error(code: int, err: str, *words: str, longest: int = 600) -> str:
    lines = err.strip().splitlines()
    assert code == 2, (code, err[-3000:])
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err and lines[0].startswith("error: ")
    assert len(lines[0]) <= longest, len(lines[0])
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _bomb(levels: int) -> str:
    nested = [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join([yaml.safe_dump(BASE), "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
                      *nested, f"seed: *a{levels}", ""])


HOSTILE = [  # (case, file text, words)
    ("alias bomb, 3 levels", _bomb(3), ["'seed': Input should be a valid integer"]),
    ("alias bomb, 6 levels", _bomb(6), ["with its aliases (*name) expanded", "more than 100000 values"]),
    ("alias bomb, 9 levels", _bomb(9), ["more than 100000 values"]),
    ("alias bomb, 12 levels", _bomb(12), ["more than 100000 values"]),
    ("nested 10000 deep", "a: " + "[" * 10_000 + "]" * 10_000, ["nested more than 64 levels"]),
    ("a flood of values", "methods: [" + "a, " * 150_000 + "]", ["holds more than 100000 values"]),
    ("a huge value in a bad field", yaml.safe_dump({**BASE, "fedmkt": {"top_k": "k" * 500_000}}, width=10**7),
     ["'fedmkt.top_k'", "kkk..."]),
    ("a huge unknown key", yaml.safe_dump({**BASE, "k" * 1000: 1}), ["unknown key 'kkk"]),
    ("an oversized file", yaml.safe_dump(BASE) + "#" * (1 << 20), ["larger than 1024 KiB"]),
    ("markup in a key", yaml.safe_dump({**BASE, "[/bold]": 1}), ["unknown key '[/bold]'"]),
    ("a style tag in a key", yaml.safe_dump({**BASE, "[red]x": 1}), ["unknown key '[red]x'"]),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case, text, words", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_configs_cost_one_short_line(cli, tmp_path, command, case, text, words):
    config = tmp_path / "hostile.yaml"
    config.write_text(text)
    args = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "run" else []
    code, out, err = cli(command, str(config), *args)
    one_line_error(code, err, str(config), *words)
    assert not (tmp_path / "out").exists()


SIZE_CASES = [  # (case, change to BASE, words): valid field by field, refused against the models or the task
    ("top_k wider than a vocabulary", {"fedmkt": {"top_k": 5000}, "methods": ["FedMKT-SLM"]},
     ["'fedmkt.top_k' is 5000, larger than the vocabulary of model 'tiny-gpt2-bpe'"]),
    ("eval_size past the test split", {"data": {"eval_size": 201}},
     ["data.eval_size: 201 requested, 200 available in tiny_qa's test split"]),
    ("private_size past the train split", {"data": {"private_size": 400}},
     ["data.public_size, data.private_size, data.dev_size", "400 available in tiny_qa's train split"]),
    ("max_length past the positions", {"clients": [{"model": "tiny-gpt2-bpe", "train": {"max_length": 4096}}]},
     ["'clients[0].train.max_length' is 4096, more than the 1024 positions"]),
    ("max_new_tokens filling the context", {"task": "tiny_gen", "eval": {"max_new_tokens": 1024}},
     ["'eval.max_new_tokens' is 1024", "leaves no room for the prompt"]),
    ("a hub id with the hub offline", {"clients": [{"model": "someorg/no-such-model"}]},
     ["'clients[0].model': hub id 'someorg/no-such-model' cannot be fetched", "unreachable (HF_HUB_OFFLINE is set)"]),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case, change, words", SIZE_CASES, ids=[c[0] for c in SIZE_CASES])
def test_validate_refuses_what_run_refuses_and_run_refuses_it_first(cli, tmp_path, monkeypatch, command, case,
                                                                   change, words):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / "sizes.yaml"
    config.write_text(yaml.safe_dump({**BASE, **change}))
    args = ["--out", str(tmp_path / "out"), "--no-progress"] if command == "run" else []
    code, out, err = cli(command, str(config), *args)
    one_line_error(code, err, *words)
    assert out == "" and not (tmp_path / "out").exists()  # validate prints no YAML; run writes nothing


def test_validate_of_a_config_that_fits_prints_what_it_checked(cli, tmp_path):
    config = tmp_path / "ok.yaml"
    config.write_text(yaml.safe_dump(BASE))
    code, out, err = cli("validate", str(config))
    assert code == 0, err
    assert yaml.safe_load(out)["data"]["eval_size"] == 4
    checked = [line for line in out.splitlines() if line.startswith("# checked: ")]
    assert checked[0] == "# checked: experiment: tiny_qa (multiple_choice): public 4, private 4, dev 0 from the " \
                         "train split; eval 4 from the test split"
    assert any("tiny-gpt2-bpe: " in line and "1024 positions" in line for line in checked)
