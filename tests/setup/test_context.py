"""A run's context binds the set-up to the run: its runtime and seed, its folder, its log, its bars."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from fedmkt.config import load_preset
from fedmkt.data.partition import FederatedSplit
from fedmkt.data.tasks import get_task
from fedmkt.models.lora import get_adapter_state
from fedmkt.report.events import EventLog
from fedmkt.report.scores import read_scores, scores_path
from fedmkt.setup.context import RunContext
from fedmkt.setup.models import with_lora


def _context(tmp_path, bars):
    config = load_preset("tiny")[2]  # one client
    config = config.model_copy(update={"seed": 5, "clients": [config.clients[0].model_copy(
        update={"train": config.clients[0].train.model_copy(update={"batch_size": 4, "epochs": 1})})]})
    data = get_task("tiny_qa").load("train")
    split = FederatedSplit(public=data[:4], private=[data[4:12]], eval=data[12:18])

    @contextmanager
    def tasks(description, total):
        bars.append(description)
        yield lambda advance=1, **f: None

    return RunContext(config, split, tmp_path, EventLog(tmp_path / "metrics.jsonl"), tasks, scenario="one-to-one")


def test_models_follow_the_runs_seed_and_phases_land_in_its_folder_log_and_bars(tmp_path):
    bars: list[str] = []
    ctx = _context(tmp_path, bars)
    spec = ctx.config.clients[0]
    model, _ = ctx.with_lora(spec)
    same, _ = with_lora(spec, dtype=ctx.config.runtime.dtype, device=ctx.config.runtime.device, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters(), strict=True))

    base, tokenizer = ctx.load(spec)
    tuned = ctx.finetune(spec, base, tokenizer, ctx.private_data(spec), "Standalone")
    assert (ctx.adapter_dir("Standalone", spec.name) / "adapter_model.safetensors").is_file()
    assert get_adapter_state(tuned)
    rows = ctx.score(spec, "slm", "Standalone", tuned, tokenizer)
    assert {(r.scenario, r.task, r.method, r.participant) for r in rows} == {
        ("one-to-one", ctx.config.task_label, "Standalone", spec.name)}
    assert read_scores(scores_path(tmp_path, "Standalone", spec.name, None)).uids == [ex.uid for ex in ctx.split.eval]
    assert bars == [f"train Standalone/{spec.name}", f"eval  Standalone/{spec.name}"]
    events = [e["event"] for e in EventLog(tmp_path / "metrics.jsonl").read()]
    assert events == ["train_step", "train_step", "train_end", "eval"]
