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
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


def parameter_bytes(model: nn.Module, *, trainable_only: bool) -> int:
    """Bytes of a model's parameters in their own dtypes (the LoRA adapter when ``trainable_only``)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad or not trainable_only)


def reference_sizes(events: list[dict]) -> dict[str, int]:
    """What classic federated fine-tuning would send, from a run's ``model_size`` events.

    An event with no frozen weights (``full_bytes`` 0) comes from a model without an adapter (the
    frozen LLM of LLM2SLM), whose "trainable" bytes are the whole model: it says nothing of LoRA.
    """
    sizes: dict[str, int] = {}
    for event in events:
        if event.get("event") == "model_size" and event.get("full_bytes"):
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
    lines = ["| Method | Round | Direction | Bytes | MiB |", "|---|---:|---|---:|---:|"]
    for (method, rnd, direction), nbytes in sorted(per.items()):
        lines.append(f"| {method} | {rnd} | {direction} | {nbytes:,} | {nbytes / 2**20:.2f} |")
    lines += ["", "| For comparison (one copy) | Bytes | MiB |", "|---|---:|---:|"]
    for name, nbytes in references.items():
        lines.append(f"| {name} | {nbytes:,} | {nbytes / 2**20:.2f} |")
    return "\n".join(lines)


def render_round_times(events: list[dict]) -> str:
    """Markdown: each round's wall time split into model compute and everything else."""
    rounds = [e for e in events if e.get("event") == "round_end" and "breakdown" in e]
    if not rounds:
        return ""
    lines = ["| Phase | Round | Wall (s) | Model compute (s) | Overhead share | Largest overhead |",
             "|---|---:|---:|---:|---:|---|"]
    for e in rounds:
        parts = dict(e["breakdown"])
        compute = parts.pop("model_compute", 0.0)
        top = max(parts.items(), key=lambda kv: kv[1], default=("-", 0.0))
        lines.append(f"| {e['phase']} | {e['round']} | {e['seconds']:.1f} | {compute:.1f} | "
                     f"{100 * e['overhead_share']:.1f}% | {top[0]} {top[1]:.3f} s |")
    return "\n".join(lines)
