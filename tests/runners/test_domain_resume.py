"""A domain federation resumes inside a round to the results of an uninterrupted run.

Clients with their own domains add state a resume must restore: each client's private data drawn
from its own task, the public mixture of every domain, and per-domain scoring of every participant.
The run is stopped by a full disk at one checkpoint commit of round 2 and resumed.
"""

from __future__ import annotations

import pytest
import torch
from resume_helpers import events, fail_manifest_commit, work_events

from fedmkt.config import load_preset
from fedmkt.errors import FedMKTError
from fedmkt.runners.local import run_suite


def test_a_domain_federation_resumes_to_the_clean_runs_per_domain_results(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (preset,) = load_preset("tiny-domains")
    config = preset.model_copy(update={
        "data": preset.data.model_copy(update={"public_size": 8, "private_size": 16, "eval_size": 8}),
        "methods": ["FedMKT-SLM", "FedMKT-LLM"]})
    threads = torch.get_num_threads()
    try:
        clean = run_suite([config], tmp_path / "clean", show_progress=False)
        with pytest.MonkeyPatch.context() as patch:
            fail_manifest_commit(patch, 2, "upload/client-2")
            with pytest.raises(FedMKTError, match="disk full writing"):
                run_suite([config], tmp_path / "run", show_progress=False)
        resumed = run_suite([config], tmp_path / "run", resume=True, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert resumed == clean
    assert {(r.participant, r.task) for r in clean} >= {(p, t) for p in ("server", "client-1", "client-2")
                                                        for t in ("tiny_qa", "tiny_gen")}
    assert work_events(tmp_path / "run") == work_events(tmp_path / "clean")
    assert [e["round"] for e in events(tmp_path / "run") if e["event"] == "phase_resumed"] == [2]
