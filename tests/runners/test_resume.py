"""Kill a real `fedmkt run` with SIGKILL at several points, resume it, and get the clean run's results.

One clean reference run (module fixture) is shared. The killed run is one run folder resumed over
and over: each resume is killed again at the next point, so later resumes start from folders that
were already resumed. Results must be exactly equal (the same floats: every step is seeded and
checkpoints hold exact copies of the adapters), ``comm.jsonl`` byte-identical, and ``metrics.jsonl``
must hold the clean run's events in the same order, each once, plus only session events.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
from dataclasses import asdict

import pytest
import torch
from resume_helpers import (
    CONFIG,
    duplicated_round_events,
    events,
    fail_manifest_commit,
    run_cli,
    work_events,
    write_config,
)
from safetensors.torch import load_file

import fedmkt.io as fedmkt_io
import fedmkt.report.events as fedmkt_events
from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.runners.local import run_suite

# Where the run dies, in order, and the step its resume must continue after (None: from scratch).
KILL_POINTS = [
    # a baseline phase, after training and before scoring: the phase is redone, its events once
    ({"event": {"event": "train_end", "phase": "Standalone/client-2"}}, None),
    # inside round 1, after client-2's private SFT logged but before that step's checkpoint
    ({"event": {"event": "train_private", "participant": "client-2", "round": 1}}, (1, "private/client-1")),
    # between the server's KD training and its message: the server's targets are replayed from uploads
    ({"event": {"event": "server_train", "round": 1}}, (1, "server_select")),
    # inside round 2, during the commit of the server's message (manifest written, not renamed)
    ({"manifest": {"round": 2, "step": "server_message"}}, (2, "server_train")),
    # during round 2's scoring, after the first client's evaluation
    ({"event": {"event": "eval", "phase": "FedMKT-SLM/client-1"}}, (2, "score/server")),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A clean, uninterrupted run of the same config."""
    root = tmp_path_factory.mktemp("reference")
    run_dir = root / "run"
    done = run_cli("run", str(write_config(root / "config.yaml")), "--out", str(run_dir), "--no-progress")
    assert done.returncode == 0, done.stderr
    return run_dir


def test_killed_and_resumed_run_ends_as_the_clean_run(reference, tmp_path):
    run_dir = tmp_path / "run"
    first = ["run", str(write_config(tmp_path / "config.yaml")), "--out", str(run_dir), "--no-progress"]
    for i, (kill, _) in enumerate(KILL_POINTS):
        args = first if i == 0 else ["run", "--resume", str(run_dir), "--no-progress"]
        killed = run_cli(*args, kill=kill)
        assert killed.returncode == -signal.SIGKILL, (kill, killed.stderr[-2000:])
        assert not (run_dir / "results.json").exists()
    final = run_cli("run", "--resume", str(run_dir), "--no-progress")
    assert final.returncode == 0, final.stderr[-2000:]

    assert json.loads((run_dir / "results.json").read_text()) == json.loads((reference / "results.json").read_text())
    assert (run_dir / "comm.jsonl").read_text() == (reference / "comm.jsonl").read_text()
    assert work_events(run_dir) == work_events(reference)
    assert duplicated_round_events(run_dir) == []

    resumed = [(e["round"], e["after_step"]) for e in events(run_dir) if e["event"] == "phase_resumed"]
    assert resumed == [point for _, point in KILL_POINTS if point is not None]
    assert [e["event"] for e in events(run_dir)].count("run_resume") == len(KILL_POINTS)
    assert not (run_dir / "checkpoints" / "FedMKT").exists()  # removed once the phase finished
    for round_ in (1, 2):  # users' per-round adapters are kept as before
        for name in ("server", "client-1", "client-2"):
            assert (run_dir / "adapters" / "FedMKT" / f"round-{round_}" / name / "adapter_model.safetensors").is_file()


@pytest.fixture
def in_process(monkeypatch):
    """In-process runs set torch's thread count from the config; give the session its own back."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield lambda **overrides: parse_config({**CONFIG, **overrides}, "config.yaml")
    torch.set_num_threads(threads)


def _manifest(run_dir):
    return json.loads((run_dir / "checkpoints" / "FedMKT" / "manifest.json").read_text())


def test_non_finite_loss_stops_in_one_line_and_resumes_from_the_last_good_step(tmp_path, in_process):
    # absurd settings: each step multiplies the server's adapter by about -1e30 (AdamW's decoupled weight
    # decay), so within a few steps it overflows and the loss is no longer finite
    train = {**CONFIG["server"]["train"], "lr": 1.0, "weight_decay": 1e30, "epochs": 3}
    absurd = {**CONFIG["server"], "train": train}
    with pytest.raises(FedMKTError) as failed:
        run_suite([in_process(server=absurd)], tmp_path, show_progress=False)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("FedMKT round 1, step server_train: ")
    assert "is nan" in message or "is inf" in message
    assert message.endswith(f"a change needs a new run), then run `fedmkt run --resume {tmp_path}`")

    manifest = _manifest(tmp_path)  # the last good checkpoint: everything before the failed step
    assert (manifest["round"], manifest["done"][-1]) == (1, "server_select")
    blobs = tmp_path / "checkpoints" / "FedMKT" / "blobs"
    for name in ("client-1", "client-2"):
        weights = load_file(blobs / manifest["files"][f"adapter/{name}"] / "adapter_model.safetensors")
        assert weights and all(torch.isfinite(w).all() for w in weights.values())

    # sane settings in the run folder's config would mix two settings in one run: refused, naming them
    with pytest.raises(FedMKTError) as mixed:
        run_suite([in_process()], tmp_path, resume=True, show_progress=False)
    assert str(mixed.value) == (
        f"{tmp_path / 'config.yaml'} was changed after the run started (server.train.lr: 1.0 at start, 0.003 now; "
        f"server.train.epochs: 3 at start, 1 now; server.train.weight_decay: 1e+30 at start, 0.1 now); resuming "
        f"would mix settings: restore it, or start a new run with --out")
    assert _manifest(tmp_path) == manifest  # the refusal touched nothing

    # the same settings resume after the last good step, and fail there again, as they must
    with pytest.raises(FedMKTError, match=r"^FedMKT round 1, step server_train: "):
        run_suite([in_process(server=absurd)], tmp_path, resume=True, show_progress=False)
    assert [(e["round"], e["after_step"]) for e in events(tmp_path) if e["event"] == "phase_resumed"] == [
        (1, "server_select")]


def _fail_metrics_append(monkeypatch, event: str) -> None:
    """Appending ``event`` to metrics.jsonl writes half its line, then fails with ENOSPC."""
    append = fedmkt_io.append_line

    def full_disk(path, line, **kwargs):
        if path.name == "metrics.jsonl" and json.loads(line)["event"] == event:
            with path.open("ab") as handle:
                handle.write(line.encode()[: len(line) // 2])
            raise fedmkt_io.DiskWriteError(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return append(path, line, **kwargs)

    monkeypatch.setattr(fedmkt_events, "append_line", full_disk)


@pytest.mark.parametrize(("fail", "written"), [
    (lambda mp: fail_manifest_commit(mp, 2, "client_kd/client-1"), "checkpoints/FedMKT/manifest.json"),
    (lambda mp: _fail_metrics_append(mp, "server_message"), "metrics.jsonl"),
], ids=["checkpoint-manifest", "metrics-line"])
def test_full_disk_stops_in_one_line_and_leaves_a_resumable_folder(reference, tmp_path, in_process, fail,
                                                                   written):
    with pytest.MonkeyPatch.context() as patch:
        fail(patch)
        with pytest.raises(FedMKTError) as failed:
            run_suite([in_process()], tmp_path, show_progress=False)
    assert str(failed.value) == f"disk full writing {tmp_path / written}; free space and run " \
                                f"`fedmkt run --resume {tmp_path}`"
    assert not list(tmp_path.rglob("*.tmp"))  # a failed atomic write leaves no temporary file

    rows = run_suite([in_process()], tmp_path, resume=True, show_progress=False)
    assert [asdict(r) for r in rows] == json.loads((reference / "results.json").read_text())
    assert (tmp_path / "comm.jsonl").read_text() == (reference / "comm.jsonl").read_text()
    assert work_events(tmp_path) == work_events(reference)


def _stopped_in_round_2(tmp_path, in_process) -> None:
    """A run stopped (full disk) during round 2 of FedMKT: baselines finished, round 1 checkpointed."""
    with pytest.MonkeyPatch.context() as patch:
        fail_manifest_commit(patch, 2, "client_kd/client-1")
        with pytest.raises(FedMKTError, match="disk full"):
            run_suite([in_process()], tmp_path, show_progress=False)


def _tear_event(run_dir, event: str, round_: int) -> int:
    """Cut the first ``event`` line of ``round_`` in metrics.jsonl to its first half; returns its line number."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, start=1)
                  if json.loads(line)["event"] == event and json.loads(line).get("round") == round_)
    lines[number - 1] = lines[number - 1][: len(lines[number - 1]) // 2]
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    return number


def test_a_torn_line_the_checkpoint_counts_is_recovered_exactly_and_report_names_it(reference, tmp_path, in_process):
    from rich.console import Console

    from fedmkt.report.commands import build_results

    _stopped_in_round_2(tmp_path, in_process)
    line = _tear_event(tmp_path, "server_train", 1)  # inside the part the round-2 checkpoint counts
    damaged: list[str] = []
    build_results([tmp_path], config_dirs=[], link_base=tmp_path, n_resamples=100, damaged=damaged)
    assert len(damaged) == 1 and f"{tmp_path / 'metrics.jsonl'}:{line}: not a JSON line" in damaged[0]

    console = Console(file=io.StringIO(), width=400)
    rows = run_suite([in_process()], tmp_path, resume=True, show_progress=False, console=console)
    note = f"note: {tmp_path / 'metrics.jsonl'}:{line}: not a JSON line"
    assert note in console.file.getvalue() and "redoing FedMKT (from its first round)" in console.file.getvalue()
    assert [asdict(r) for r in rows] == json.loads((reference / "results.json").read_text())
    assert (tmp_path / "comm.jsonl").read_text() == (reference / "comm.jsonl").read_text()
    assert work_events(tmp_path) == work_events(reference)
    (resumed,) = [e for e in events(tmp_path) if e["event"] == "run_resume"]
    assert resumed["recovered"].startswith(f"{tmp_path / 'metrics.jsonl'}:{line}: ")
    damaged.clear()
    build_results([tmp_path], config_dirs=[], link_base=tmp_path, n_resamples=100, damaged=damaged)
    assert damaged == []  # the folder is whole again


def test_a_cut_adapter_in_the_checkpoint_is_refused_in_one_line_naming_it(tmp_path, in_process):
    _stopped_in_round_2(tmp_path, in_process)
    (weights,) = (tmp_path / "checkpoints" / "FedMKT" / "blobs").glob("*adapter-server/adapter_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(FedMKTError) as refused:
        run_suite([in_process()], tmp_path, resume=True, show_progress=False)
    relative = weights.relative_to(tmp_path / "checkpoints" / "FedMKT").as_posix()
    recorded = _manifest(tmp_path)["digests"][relative]["bytes"]
    assert recorded > 1000
    assert str(refused.value) == (
        f"checkpoint {tmp_path / 'checkpoints' / 'FedMKT'}: {relative} is 1000 bytes, the manifest recorded "
        f"{recorded} (cut short or damaged); delete that folder to redo phase FedMKT from its first round")
