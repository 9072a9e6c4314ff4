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
from fedmkt.runners.local import run_suite

CLIENT = CONFIG["clients"][0]


@pytest.mark.parametrize(("overrides", "fail_at", "resumed_after"), [
    # the frozen server re-sends its round-1 message in round 2 ("reused"), also after a resume
    ({"clients": [CLIENT], "methods": ["LLM2SLM"]}, (2, "server_message"), (2, "upload/client-1")),
    # FedAvg scores the shared adapter once; client-2's rows come from client-1's, restored from the checkpoint
    ({"clients": [CLIENT, CLIENT], "methods": ["FedAvg"]}, (2, "score/client-2"), (2, "score/client-1")),
], ids=["LLM2SLM", "FedAvg"])
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
