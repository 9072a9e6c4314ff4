"""``KEY=VALUE`` overrides on `fedmkt run` and `fedmkt validate`: checked like the file, errors name them."""

from __future__ import annotations

import pytest
import yaml

from test_cli_bad_input import BASE, _one_line_error, cli  # noqa: F401 (cli is a fixture)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(BASE))
    return path


def test_validate_prints_the_config_with_the_overrides(cli, config):  # noqa: F811
    code, out, err = cli("validate", str(config), "fedmkt.rounds=3", "clients.0.model=tiny-qwen2-wordpiece",
                         "server.train.betas=[0.8, 0.9]", "tracking.report_to=none")
    assert code == 0, err
    resolved = yaml.safe_load(out)
    assert resolved["fedmkt"]["rounds"] == 3 and resolved["clients"][0]["model"] == "tiny-qwen2-wordpiece"
    assert resolved["server"]["train"]["betas"] == [0.8, 0.9] and resolved["tracking"]["report_to"] == []


BAD = [  # (override, words the one line must hold)
    ("fedmkt.roundz=3", ["override 'fedmkt.roundz=3': unknown key 'fedmkt.roundz'", "did you mean 'fedmkt.rounds'"]),
    ("clients.0.modle=x", ["unknown key 'clients.0.modle'", "did you mean 'clients.0.model'"]),
    ("fedmkt.rounds=two", ["c.yaml, override 'fedmkt.rounds=two': 'fedmkt.rounds'", "valid integer", "'two'"]),
    ("clients.3.model=x", ["override 'clients.3.model=x': 'clients' has 1 entry in", "no item 3"]),
    ("clients.model=x", ["'clients' is a list; expected an item number next, as in clients.0.model"]),
    ("seed.x=1", ["'seed' holds a value, not keys"]),
    ("rounds", ["override 'rounds': expected KEY=VALUE"]),
    ("=3", ["expected KEY=VALUE"]),
    ("eval.split=yes", ["override 'eval.split=yes'", "quote the value"]),
    ("tracking.report_to=[wandb]", ["override 'tracking.report_to=[wandb]'", "'tensorboard' or 'mlflow'"]),
    ("fedmkt.rounds=[1, 2", ["override 'fedmkt.rounds=[1, 2'"]),
    ("methods=&a [*a, *a]", ["override"]),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("override, words", BAD, ids=[b[0] for b in BAD])
def test_a_bad_override_is_one_line_naming_it(cli, config, tmp_path, command, override, words):  # noqa: F811
    out = ["--out", str(tmp_path / "out")] if command == "run" else []
    _one_line_error(*cli(command, str(config), override, *out)[::2], *words)
    assert not (tmp_path / "out").exists()


def test_a_preset_takes_overrides_without_a_config(cli, tmp_path):  # noqa: F811
    """``run --preset tiny KEY=VALUE``: the first word is an override, not a missing config file."""
    from pathlib import Path

    from fedmkt.cli import _split

    assert _split(Path("fedmkt.rounds=1"), ["seed=2"]) == (None, ["fedmkt.rounds=1", "seed=2"])
    _one_line_error(*cli("run", "--preset", "tiny", "fedmkt.roundz=1", "--out", str(tmp_path / "o"))[::2],
                    "override 'fedmkt.roundz=1'", "did you mean 'fedmkt.rounds'")


def test_resume_takes_tracking_overrides_only(cli, tmp_path):  # noqa: F811
    _one_line_error(*cli("run", "--resume", str(tmp_path), "fedmkt.rounds=3")[::2],
                    "only tracking.* may change, not fedmkt.rounds=3")
