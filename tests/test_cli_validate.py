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
