"""``fedmkt bench scale``: memory and time of one process holding 1 to 64 clients (issue 19).

Each point is a FedMKT phase with ``n`` identical clients, run in a fresh interpreter (so its peak
resident set size is its own): the tiny family (tiny-llama-unigram-m server, tiny-gpt2-bpe clients,
tiny_qa) and the packaged one (Gemma-3-270M server, SmolLM2-135M clients, ARC-Easy). Two rounds:

- round 1 runs as any run does and is timed: its wall time per client that took part, and the
  server's non-model overhead (decoding and checking the uploads, DualMinCE selection, alignment,
  encoding its message: the ``server_receive``, ``server_align`` and ``server_message`` events'
  timings) per round and as a share of the round;
- round 2 runs under :class:`~fedmkt.bench.tensor_memory.TensorMemory` (it slows every op, so it
  is not timed): the peak of the tensors the round creates, plus the bytes of every distinct
  storage the models hold when it starts (a shared base counted once, each adapter once), is the
  exact tensor peak, as ``fedmkt bench step`` counts it. The process's peak RSS is read before it
  (the models loaded and round 1 run): ``TensorMemory``'s own records would inflate it.

Only the LLM is scored (the clients' scoring is not part of a round), once per round.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from fedmkt.bench.tensor_memory import TensorMemory
from fedmkt.config import ExperimentConfig, parse_config
from fedmkt.errors import FedMKTError


@dataclass(frozen=True)
class Family:
    server: str
    client: str
    task: str
    sizes: tuple[int, ...]


FAMILIES = {
    "tiny": Family("tiny-llama-unigram-m", "tiny-gpt2-bpe", "tiny_qa", (1, 4, 16, 64)),
    "smollm2": Family("gemma3-270m", "smollm2-135m", "arc_easy", (1, 4, 16)),
}
"""The issue's grid: 1, 4, 16, 64 tiny clients; 1, 4, 16 SmolLM2-135M clients with the Gemma server."""

SERVER_OVERHEAD = {"server_receive": ("decode_seconds",), "server_align": ("select_seconds", "align_seconds"),
                   "server_message": ("encode_seconds",)}
"""The server's non-model work of a round: the events and timings that make it up."""


def scale_config(family: Family, n: int, *, per_round: int | float | None = None, public: int = 8,
                 private: int = 4, share: bool = True) -> ExperimentConfig:
    """Two rounds of FedMKT, ``n`` clients of the family's model (``private`` samples each), only the LLM scored."""
    side = {"train": {"batch_size": 8, "max_length": 128}}
    return parse_config({
        "name": f"scale-{family.client}-{n}", "seed": 0, "task": family.task,
        "server": {"model": family.server, **side}, "clients": [{"model": family.client, **side}] * n,
        "data": {"public_size": public, "private_size": private, "eval_size": 8},
        "eval": {"batch_size": 8, "bootstrap": 100}, "fedmkt": {"rounds": 2, "top_k": 16,
                                                                 "clients_per_round": per_round},
        "runtime": {"share_base": share}, "methods": ["FedMKT-LLM"],
    }, f"bench scale ({family.client} x {n})")


def storage_bytes(models: list[nn.Module]) -> int:
    """Bytes of the distinct storages behind ``models``' parameters and buffers (shared ones once)."""
    seen: dict[int, int] = {}
    for model in models:
        for tensor in (*model.parameters(), *model.buffers()):
            storage = tensor.untyped_storage()
            seen[storage.data_ptr() or id(storage)] = storage.nbytes()
    return sum(seen.values())


def measure(config: ExperimentConfig, run_dir: Path) -> dict:
    """Run ``config``'s FedMKT phase here (round 1 timed, round 2 under ``TensorMemory``); the figures."""
    from fedmkt.federation.plan import variants_for
    from fedmkt.report.events import EventLog
    from fedmkt.runners.federated import FederatedPhase
    from fedmkt.runners.preflight import preflight
    from fedmkt.setup.context import RunContext

    class Measured(FederatedPhase):
        resident = round_peak = peak_rss = 0

        def _run_round(self, round_: int) -> None:
            if round_ != 2:
                return super()._run_round(round_)
            self.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
            models = ([self.server.model] if self.server is not None else []) + [c.model for c in self.clients]
            self.resident = storage_bytes(models)
            with TensorMemory() as memory:
                super()._run_round(round_)
            self.round_peak = memory.peak

    split = preflight(config, show_progress=False).split
    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(run_dir / "metrics.jsonl")
    phase = Measured(RunContext(config, split, run_dir, log), variants_for(config.method_names)[0])
    phase.run()
    events = [e for e in log.read() if e.get("round") == 1]
    wall = next(e["seconds"] for e in events if e["event"] == "round_end")
    sampled = next((len(e["clients"]) for e in events if e["event"] == "clients_sampled"), len(config.clients))
    overhead = sum(float(e.get(key) or 0.0) for e in events for key in SERVER_OVERHEAD.get(e["event"], ()))
    return {
        "clients": len(config.clients), "sampled": sampled, "share_base": config.runtime.share_base,
        "resident_tensor_bytes": phase.resident, "round_tensor_peak_bytes": phase.round_peak,
        "tensor_peak_bytes": phase.resident + phase.round_peak,
        "peak_rss_bytes": phase.peak_rss,
        "round_seconds": wall, "seconds_per_sampled_client": wall / sampled,
        "server_overhead_seconds": overhead, "server_overhead_share": overhead / wall if wall else 0.0,
    }


def _worker() -> None:
    """One point in this interpreter: the config's JSON on stdin, the figures as JSON on stdout's last line."""
    config = parse_config(json.loads(sys.stdin.read()), "bench scale")
    with tempfile.TemporaryDirectory(prefix="fedmkt-scale-") as folder:
        print(json.dumps(measure(config, Path(folder))))


def measure_in_child(config: ExperimentConfig, timeout: float = 3600) -> dict:
    """:func:`measure` in a fresh interpreter, so the peak RSS is this point's alone."""
    command = [sys.executable, "-c", "from fedmkt.bench.scale import _worker; _worker()"]
    done = subprocess.run(command, input=config.model_dump_json(), capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise FedMKTError(f"bench scale: {config.name} failed ({errors[-1] if errors else f'exit {done.returncode}'})")
    return json.loads(lines[-1])


def bench_scale(points: dict[str, list[int]], *, per_round: int | float | None = None, public: int = 8,
                private: int = 4, share: bool = True) -> dict:
    """Every family's points, each in its own interpreter; the figures per family and client count."""
    result: dict = {"public": public, "private": private, "clients_per_round": per_round, "families": {}}
    for name, sizes in points.items():
        family = FAMILIES[name]
        configs = [scale_config(family, n, per_round=min(per_round, n) if isinstance(per_round, int) else per_round,
                                public=public, private=private, share=share) for n in sizes]
        result["families"][name] = {"server": family.server, "client": family.client, "task": family.task,
                                    "points": [measure_in_child(config) for config in configs]}
    return result
