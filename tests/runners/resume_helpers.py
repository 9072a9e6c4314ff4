"""Shared by the resume tests: a tiny two-round config, a CLI run that SIGKILLs itself, log checks."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

_PARTICIPANT = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                "train": {"lr": 3e-3, "batch_size": 4, "max_length": 48}}
CONFIG = {
    "name": "resume",
    "seed": 0,
    "task": "tiny_qa",
    "server": {"model": "tiny-llama-unigram", **_PARTICIPANT},
    "clients": [{"model": "tiny-gpt2-bpe", **_PARTICIPANT}, {"model": "tiny-qwen2-wordpiece", **_PARTICIPANT}],
    "data": {"public_size": 8, "private_size": 8, "eval_size": 8},
    "eval": {"batch_size": 16, "bootstrap": 100},
    "fedmkt": {"rounds": 2, "top_k": 8},
    "runtime": {"threads": 1},
    "methods": ["Standalone", "FedMKT-SLM", "FedMKT-LLM"],
}
"""Heterogeneous, two rounds, one baseline phase per client, every round scored; seconds per run."""

SESSION_EVENTS = {"run_start", "run_resume", "data_split", "phase_skipped", "phase_resumed"}
"""Events that describe a session (a start or a resume), not the work: the rest must match a clean run."""

# Runs the real CLI in a child process that SIGKILLs itself at a chosen point. FEDMKT_KILL is JSON:
# {"event": {...fields...}}: right after writing the first metrics.jsonl event with those fields; or
# {"manifest": {"round": r, "step": s}}: inside the atomic write of the checkpoint manifest that
# records step s of round r, after its temporary file is fsynced and before the rename (a torn commit).
_HARNESS = """
import json, os, signal, sys
spec = json.loads(os.environ["FEDMKT_KILL"])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if "event" in spec:
    from fedmkt.report import events
    write = events.EventLog.write
    def write_then_die(self, event, **fields):
        write(self, event, **fields)
        if all({"event": event, **fields}.get(k) == v for k, v in spec["event"].items()):
            die()
    events.EventLog.write = write_then_die
if "manifest" in spec:
    replace = os.replace
    def replace_or_die(src, dst, *args, **kwargs):
        if str(dst).endswith("manifest.json"):
            record = json.loads(open(src, encoding="utf-8").read())
            if [record["round"], record["done"][-1]] == [spec["manifest"]["round"], spec["manifest"]["step"]]:
                die()
        return replace(src, dst, *args, **kwargs)
    os.replace = replace_or_die
from fedmkt.cli import main
sys.argv = ["fedmkt", *sys.argv[1:]]
main()
"""


def write_config(path: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump({**CONFIG, **overrides}), encoding="utf-8")
    return path


def run_cli(*args: str, kill: dict | None = None) -> subprocess.CompletedProcess:
    """``fedmkt ARGS`` in a fresh interpreter (killing itself as ``kill`` says); output captured."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if kill is not None:
        env["FEDMKT_KILL"] = json.dumps(kill)
        command = [sys.executable, "-c", _HARNESS, *args]
    else:
        command = [sys.executable, "-m", "fedmkt.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def _stable(event: dict) -> dict:
    """An event without what differs between two identical runs (clock readings, thread counts)."""
    volatile = {"time", "breakdown", "overhead_share", "torch_threads"}
    return {k: v for k, v in event.items() if k not in volatile and "seconds" not in k}


def work_events(run_dir: Path) -> list[dict]:
    """The run's events minus session events, without clock readings: equal for equal work."""
    return [_stable(e) for e in events(run_dir) if e["event"] not in SESSION_EVENTS]


def duplicated_round_events(run_dir: Path) -> list[tuple]:
    """(phase, round, event, participant) keys of the round events (not session events) seen twice or more."""
    keys = Counter((e.get("phase"), e["round"], e["event"], e.get("participant") or e.get("sender")
                    or e.get("receiver")) for e in events(run_dir) if "round" in e and e["event"] not in SESSION_EVENTS)
    return [key for key, count in keys.items() if count > 1]


def fail_manifest_commit(monkeypatch, round_: int, step: str) -> None:
    """``os.replace`` fails with ENOSPC for the manifest recording ``step`` of ``round_``."""
    replace = os.replace

    def full_disk(src, dst, *args, **kwargs):
        if str(dst).endswith("manifest.json"):
            record = json.loads(Path(src).read_text(encoding="utf-8"))
            if (record["round"], record["done"][-1]) == (round_, step):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
