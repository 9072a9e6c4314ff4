"""Federated variants resume inside a round: LLM2SLM's frozen server and FedAvg's shared scores.

Each run is stopped by a full disk at one checkpoint commit (the in-process stand-in for a kill;
the SIGKILL runs are in test_resume.py), resumed, and compared with a clean run of the same config.
"""

from __future__ import annotations

import pytest
import torch
from resume_helpers import CONFIG, events, fail_manifest_commit, work_events

from fedmkt.config import parse_config
from fedmkt.errors import FedMKTError
from fedmkt.federation.sampling import sample_clients
from fedmkt.report.participation import participation
from fedmkt.runners.local import run_suite

CLIENT = CONFIG["clients"][0]
SAME = {**CLIENT, "model": "tiny-gpt2-bpe", "lora": {"r": 4, "alpha": 8, "dropout": 0.1}}  # dropout draws matter


@pytest.mark.parametrize(("overrides", "fail_at", "resumed_after"), [
    # the frozen server re-sends its round-1 message in round 2 ("reused"), also after a resume
    ({"clients": [CLIENT], "methods": ["LLM2SLM"]}, (2, "server_message"), (2, "upload/client-1")),
    # FedAvg scores the shared adapter once; client-2's rows come from client-1's, restored from the checkpoint
    ({"clients": [CLIENT, CLIENT], "methods": ["FedAvg"]}, (2, "score/client-2"), (2, "score/client-1")),
    # one client of three a round (client-2, then client-3: drawn from the seed and round, so again on resume)
    ({"clients": [SAME] * 3, "fedmkt": {"rounds": 2, "top_k": 8, "clients_per_round": 0.5}},
     (2, "upload/client-3"), (2, "private/client-3")),
], ids=["LLM2SLM", "FedAvg", "sampled"])
def test_variant_resumes_to_the_clean_runs_results(tmp_path, monkeypatch, overrides, fail_at, resumed_after):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    config = parse_config({**CONFIG, **overrides}, "config.yaml")
    try:
        clean = run_suite([config], tmp_path / "clean", show_progress=False)
        with pytest.MonkeyPatch.context() as patch:
            fail_manifest_commit(patch, *fail_at)
            with pytest.raises(FedMKTError, match="disk full writing"):
                run_suite([config], tmp_path / "run", show_progress=False)
        resumed = run_suite([config], tmp_path / "run", resume=True, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert resumed == clean
    assert work_events(tmp_path / "run") == work_events(tmp_path / "clean")
    assert [(e["round"], e["after_step"]) for e in events(tmp_path / "run") if e["event"] == "phase_resumed"] == [
        resumed_after]


def _files(run_dir, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob(pattern))}


def test_a_shared_base_gives_bit_for_bit_the_results_of_a_copy_each(tmp_path, monkeypatch):
    """Server and clients on one model: one copy of its weights, adapters, scores and bytes as with a copy each."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    runs = {}
    try:
        for share in (True, False):
            config = parse_config({**CONFIG, "server": SAME, "clients": [SAME, SAME], "runtime": {
                "threads": 1, "share_base": share}, "methods": ["FedMKT-SLM", "FedMKT-LLM", "FedAvg"]}, "c.yaml")
            runs[share] = run_suite([config], tmp_path / str(share), show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert runs[True] == runs[False]
    for pattern in ("adapter_model.safetensors", "round-*.json", "comm.jsonl"):
        shared, own = _files(tmp_path / "True", pattern), _files(tmp_path / "False", pattern)
        assert shared and shared == own, pattern


def _adapter(run_dir, phase: str, round_: int, client: str) -> bytes:
    return (run_dir / "adapters" / phase / f"round-{round_}" / client / "adapter_model.safetensors").read_bytes()


@pytest.mark.parametrize("methods", [["FedMKT-SLM", "FedMKT-LLM"], ["FedAvg"]], ids=["FedMKT", "FedAvg"])
def test_sampled_clients_alone_train_and_teach_the_others_keep_their_adapters_and_all_are_scored(tmp_path,
                                                                                             monkeypatch, methods):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    names = ["client-1", "client-2", "client-3"]
    config = parse_config({**CONFIG, "seed": 1, "clients": [SAME] * 3, "fedmkt": {
        "rounds": 3, "top_k": 8, "clients_per_round": 2}, "methods": methods}, "c.yaml")
    try:
        rows = run_suite([config], tmp_path / "run", show_progress=False)
    finally:
        torch.set_num_threads(threads)
    run, phase = tmp_path / "run", "FedAvg" if methods == ["FedAvg"] else "FedMKT"
    log = events(run)
    drawn = {e["round"]: e["clients"] for e in log if e["event"] == "clients_sampled"}
    assert drawn == {r: sample_clients(names, 2, 1, r) for r in (1, 2, 3)}
    assert len({tuple(d) for d in drawn.values()}) > 1  # the seed's draws differ between rounds here
    assert [(r.phase, r.took_part) for r in participation(log)] == [(phase, d) for d in drawn.values()]
    for round_, clients in drawn.items():
        trained = [e["participant"] for e in log if e["event"] == "train_private" and e["round"] == round_]
        assert trained == clients
        for e in (e for e in log if e["event"] == "server_receive" and e["round"] == round_):
            assert (e["accepted"], e["missing"]) == (clients, [])  # the others were not asked: not missing
        for e in (e for e in log if e["event"] == "fedavg" and e["round"] == round_):
            assert e["clients"] == clients
        for name in names:
            kept = _adapter(run, phase, round_, name) == (
                _adapter(run, phase, round_ - 1, name) if round_ > 1 else None)
            assert kept == (name not in clients and round_ > 1), (round_, name)
    scored = {(r.round, r.participant) for r in rows if r.metric == "acc" and r.role == "slm"}
    assert scored == {(r, n) for r in (1, 2, 3) for n in names}  # each from its own latest adapter

