"""A node's run state folders: listed newest first, stale ones pruned, the alignment cache kept."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from fedmkt.deploy.commands import app
from fedmkt.deploy.node_runs import node_runs, remove_runs, run_state_folder, stale_runs
from fedmkt.errors import FedMKTError

DAY = 86400.0


def _state(cache, run_key: str, client: str, age_days: float, size: int = 100) -> None:
    """A client's state for a run, its files last changed ``age_days`` ago."""
    folder = run_state_folder(cache, run_key, client)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - age_days * DAY
    for name in ("adapter.safetensors", "own.json"):
        (folder / name).write_bytes(b"x" * size)
        os.utime(folder / name, (stamp, stamp))


@pytest.fixture
def cache(tmp_path):
    cache = tmp_path / "cache"
    _state(cache, "run-old", "client-0", age_days=40)
    _state(cache, "run-old", "client-1", age_days=45)
    _state(cache, "run-mid", "client-0", age_days=10)
    _state(cache, "run-new", "client-0", age_days=0.01)
    (cache / "alignment").mkdir()
    (cache / "alignment" / "vocab-map.npz").write_bytes(b"map")
    return cache


def test_runs_are_listed_newest_first_with_their_clients_and_sizes(cache):
    runs = node_runs(cache)
    assert [run.key for run in runs] == ["run-new", "run-mid", "run-old"]
    old = runs[-1]
    assert old.clients == ("client-0", "client-1") and old.size_bytes == 400
    assert datetime.now(timezone.utc) - old.last_change == pytest.approx(timedelta(days=40), abs=timedelta(hours=1))


def test_stale_runs_go_by_age_and_the_newest_are_always_kept(cache):
    runs = node_runs(cache)
    assert [run.key for run in stale_runs(runs, timedelta(days=30), keep=1)] == ["run-old"]
    assert [run.key for run in stale_runs(runs, timedelta(days=1), keep=1)] == ["run-mid", "run-old"]
    assert [run.key for run in stale_runs(runs, timedelta(days=1), keep=2)] == ["run-old"]
    assert [run.key for run in stale_runs(runs, timedelta(0), keep=0)] == ["run-new", "run-mid", "run-old"]
    with pytest.raises(FedMKTError, match="keep: expected 0 or more"):
        stale_runs(runs, timedelta(days=1), keep=-1)


def test_removing_runs_deletes_only_their_folders(cache):
    freed = remove_runs(stale_runs(node_runs(cache), timedelta(days=1), keep=1))
    assert freed == 600
    assert sorted(p.name for p in (cache / "runs").iterdir()) == ["run-new"]
    assert (cache / "alignment" / "vocab-map.npz").read_bytes() == b"map"


def test_prune_command_lists_dry_runs_and_removes(cache):
    runner = CliRunner()
    result = runner.invoke(app, ["prune", str(cache), "--older-than", "7", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 of 3 runs would be removed" in result.output and "would remove" in result.output
    assert len(list((cache / "runs").iterdir())) == 3
    result = runner.invoke(app, ["prune", str(cache), "--older-than", "7"])
    assert result.exit_code == 0, result.output
    assert "2 of 3 runs removed, 600 B freed" in result.output
    assert [p.name for p in (cache / "runs").iterdir()] == ["run-new"]


def test_prune_names_a_missing_cache_and_a_cache_without_runs(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["prune", str(tmp_path / "nope")])
    assert isinstance(result.exception, FedMKTError) and "no such node cache folder" in str(result.exception)
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["prune", str(tmp_path / "empty")])
    assert result.exit_code == 0 and "no run state under" in result.output
    result = runner.invoke(app, ["prune", str(tmp_path / "empty"), "--older-than", "-1"])
    assert "--older-than: expected 0 or more days" in str(result.exception)
