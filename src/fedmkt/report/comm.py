"""The communication ledger: every message's size, and what it compares with.

``comm.jsonl`` gets one line per message (round, sender, receiver, kind, bytes). The table in
``results.md`` sets the bytes per round against what classic federated fine-tuning would send:
a LoRA adapter per client, or the whole model.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from fedmkt.io import append_line, truncate_to
from fedmkt.report.events import read_jsonl
from fedmkt.report.markdown import markdown_table

if TYPE_CHECKING:
    from torch import nn


class CommLedger:
    """Appends one JSON line per message to ``comm.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, *, method: str, round: int, sender: str, receiver: str, kind: str, nbytes: int) -> None:
        line = {"method": method, "round": round, "sender": sender, "receiver": receiver, "kind": kind,
                "bytes": int(nbytes)}
        append_line(self.path, json.dumps(line))

    def size(self) -> int:
        """Bytes in the ledger now (0 before the first message): a checkpoint's watermark."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> bool:
        """Drop the lines after byte ``size`` (messages of an unfinished step, redone on resume)."""
        return truncate_to(self.path, size)

    def read(self) -> list[dict]:
        """Every message's line; a damaged line raises a one-line ``FedMKTError`` naming ``comm.jsonl:<line>``."""
        return read_jsonl(self.path)


def parameter_bytes(model: nn.Module, *, trainable_only: bool) -> int:
    """Bytes of a model's parameters in their own dtypes (the LoRA adapter when ``trainable_only``)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad or not trainable_only)


def adapted_model_sizes(events: list[dict]) -> list[dict]:
    """A run's ``model_size`` events of models that carry a LoRA adapter.

    An event with no frozen weights (``full_bytes`` 0) comes from a model without an adapter (the
    frozen LLM of LLM2SLM), whose "trainable" bytes are the whole model: it says nothing of LoRA.
    """
    return [e for e in events if e.get("event") == "model_size" and e.get("full_bytes")]


def reference_sizes(events: list[dict]) -> dict[str, int]:
    """What classic federated fine-tuning would send, from a run's ``model_size`` events."""
    sizes: dict[str, int] = {}
    for event in adapted_model_sizes(events):
        sizes[f"LoRA adapter of {event['model']}"] = event["lora_bytes"]
        sizes[f"full {event['model']} (as loaded)"] = event["full_bytes"]
    return sizes


def render_comm_table(records: list[dict], references: dict[str, int]) -> str:
    """Markdown: bytes per round and direction for each method, then the reference sizes."""
    if not records:
        return ""
    per: dict[tuple[str, int, str], int] = defaultdict(int)
    for r in records:
        direction = "up (clients -> server)" if r["receiver"] == "server" else "down (server -> clients)"
        per[(r["method"], r["round"], direction)] += r["bytes"]
    per_round = markdown_table(["Method", "Round", "Direction", "Bytes", "MiB"],
                               [(method, rnd, direction, f"{nbytes:,}", f"{nbytes / 2**20:.2f}")
                                for (method, rnd, direction), nbytes in sorted(per.items())], "lrlrr")
    copies = markdown_table(["For comparison (one copy)", "Bytes", "MiB"],
                            [(name, f"{nbytes:,}", f"{nbytes / 2**20:.2f}") for name, nbytes in references.items()],
                            "lrr")
    return f"{per_round}\n\n{copies}"


def render_round_times(events: list[dict]) -> str:
    """Markdown: each round's wall time split into model compute and everything else."""
    rounds = [e for e in events if e.get("event") == "round_end" and "breakdown" in e]
    if not rounds:
        return ""
    rows = []
    for e in rounds:
        parts = dict(e["breakdown"])
        compute = parts.pop("model_compute", 0.0)
        top = max(parts.items(), key=lambda kv: kv[1], default=("-", 0.0))
        rows.append((e["phase"], e["round"], f"{e['seconds']:.1f}", f"{compute:.1f}",
                     f"{100 * e['overhead_share']:.1f}%", f"{top[0]} {top[1]:.3f} s"))
    header = ["Phase", "Round", "Wall (s)", "Model compute (s)", "Overhead share", "Largest overhead"]
    return markdown_table(header, rows, "lrrrrl")


_DIRECTIONS = {("topk", True): "topk_up", ("topk", False): "topk_down", ("lora", True): "lora_up",
               ("lora", False): "lora_down"}


def bytes_per_client_round(records: list[dict]) -> dict[str, dict[str, float]]:
    """Per method, the mean size of one client's message of each kind and direction in a round.

    Keys: ``topk_up`` (a client's distributions to the server), ``topk_down`` (the server's to one
    client), ``lora_up`` / ``lora_down`` (an adapter to be averaged, and the mean sent back), plus
    ``clients`` and ``rounds``: how many took part.
    """
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    seen: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for r in records:
        up = r["receiver"] == "server"
        key = _DIRECTIONS.get((r["kind"], up))
        if key is None:
            continue
        sums[r["method"]][key].append(r["bytes"])
        clients, rounds = seen[r["method"]]
        clients.add(r["sender"] if up else r["receiver"])
        rounds.add(r["round"])
    out: dict[str, dict[str, float]] = {}
    for method, kinds in sums.items():
        clients, rounds = seen[method]
        out[method] = {k: sum(v) / len(v) for k, v in kinds.items()}
        out[method].update(clients=len(clients), rounds=len(rounds))
    return out


def client_adapter_bytes(events: list[dict], server_name: str = "server") -> int | None:
    """The largest client LoRA adapter of a run (what classic federated LoRA would send each way)."""
    sizes = [e["lora_bytes"] for e in adapted_model_sizes(events) if e.get("participant") != server_name]
    return max(sizes) if sizes else None


def render_comm_summary(runs: dict[str, tuple[list[dict], list[dict]]]) -> str:
    """Markdown: one line per run and method with a client's bytes per round, set against its LoRA adapter.

    ``runs`` maps a run's name to its ``comm.jsonl`` records and ``metrics.jsonl`` events. The last
    column is how many times smaller one round's top-k exchange (up and down) is than sending the
    client's LoRA adapter up and back, as federated LoRA fine-tuning would.
    """
    rows = []
    for name, (records, events) in runs.items():
        adapter = client_adapter_bytes(events)
        for method, sizes in sorted(bytes_per_client_round(records).items()):
            topk = sizes.get("topk_up", 0.0) + sizes.get("topk_down", 0.0)
            ratio = f"{2 * adapter / topk:.1f}x smaller" if adapter and topk else "-"
            rows.append((name, method, sizes["clients"], sizes["rounds"],
                         *(_kib(sizes.get(k)) for k in ("topk_up", "topk_down", "lora_up")), _kib(adapter), ratio))
    header = ["Run", "Method", "Clients", "Rounds", "Top-k up (KiB)", "Top-k down (KiB)", "LoRA each way (KiB)",
              "Client LoRA adapter (KiB)", "Top-k round trip vs adapter round trip"]
    return markdown_table(header, rows, "llrrrrrrr") if rows else ""


def _kib(nbytes: float | None) -> str:
    return f"{nbytes / 1024:,.0f}" if nbytes else "-"
