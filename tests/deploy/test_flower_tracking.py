"""``tracking.report_to`` on a Flower deployment: the ServerApp feeds TensorBoard as ``fedmkt run`` does.

The ServerApp's run folder holds the federation's log (rounds, messages, scores); the trackers read
the same events. Run over the in-process grid (only the transport replaced), read back from the
event files against the run's own results.
"""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")
pytest.importorskip("tensorboard", reason="pip install 'fedmkt[tracking]'")

from inprocess_grid import InProcessGrid, client_keys  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from fedmkt.deploy.flower.client_app import app  # noqa: E402
from fedmkt.deploy.flower.federation import FlowerFederation  # noqa: E402
from fedmkt.deploy.flower.settings import Settings  # noqa: E402

SIDE = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train": {"lr": 3e-3, "batch_size": 8, "max_length": 48}}
CONFIG = {"name": "tracked", "seed": 0, "task": "tiny_qa", "server": {"model": "tiny-llama-unigram", **SIDE},
          "clients": [{"model": "tiny-gpt2-bpe", **SIDE}, {"model": "tiny-qwen2-wordpiece", **SIDE}],
          "data": {"public_size": 8, "private_size": 8, "eval_size": 8}, "eval": {"batch_size": 16, "bootstrap": 100},
          "fedmkt": {"rounds": 2, "top_k": 8}, "methods": ["FedMKT-SLM", "FedMKT-LLM"],
          "tracking": {"report_to": ["tensorboard"]}}


def test_the_serverapp_writes_each_rounds_scores_to_tensorboard(tmp_path):
    nodes = {10 + i: {"client": f"client-{i}", "cache": str(tmp_path / f"cache-{i}")} for i in (1, 2)}
    grid = InProcessGrid(app, nodes, run_id=1, keys=client_keys(tmp_path / "keys", nodes))
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    run_dir = tmp_path / "run"
    settings = Settings.from_run_config({"experiment": str(path), "experiment-name": "", "out": str(run_dir),
                                         "timeout": 30.0, "wait-nodes": 0.0, "client-keys": str(tmp_path / "keys")},
                                        grid.run_id)
    rows = FlowerFederation(grid, settings).run()
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    scalars = {tag: {e.step: e.value for e in accumulator.Scalars(tag)} for tag in accumulator.Tags()["scalars"]}
    scored = [r for r in rows if r.round is not None]
    assert {r.round for r in scored} == {1, 2} and {r.participant for r in scored} == {"server", "client-1", "client-2"}
    for row in scored:  # the clients' rows come from their nodes; each reaches TensorBoard as the LLM's does
        tag = f"eval/{row.method}/{row.participant}/{row.metric}"
        assert scalars[tag][row.round] == pytest.approx(row.value, rel=1e-6), tag
    assert len([t for t in scalars if t.startswith("eval/")]) == len({(r.method, r.participant, r.metric)
                                                                     for r in scored})
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(e["event"] == "run_end" for e in events)
