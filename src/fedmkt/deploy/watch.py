"""What ``fedmkt deploy local`` shows while ``flwr run`` works: the run's phases and rounds, live.

``flwr run --stream`` prints Flower's own log lines; the run's story is in the ServerApp's
``metrics.jsonl`` (nodes connected, clients registered, each round's uploads, the server's
message, who was left out, round times, scores). :func:`watch` follows that file while the
``flwr run`` process lives and prints one line per milestone under a spinner that says what the
federation is waiting for, so two quiet minutes of Python start-ups read as progress.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape


class LineFollower:
    """New complete lines of a file that another process appends to (a partial last line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def new_lines(self) -> list[str]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # rewritten (a resume cuts the log back): read it again from the start
            self.offset, self.partial = 0, b""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines if line.strip()]


def describe(event: dict, rounds: int) -> str | None:
    """One console line (rich markup) for a ``metrics.jsonl`` event worth showing, else None."""
    kind, round_ = event.get("event"), event.get("round")
    if kind == "run_start":
        return f"ServerApp started: {event.get('method', '')} of experiment {event.get('name', '')}"
    if kind == "nodes":
        return f"nodes connected: {event.get('connected')} of {event.get('expected')}"
    if kind == "client_registered":
        return f"{event.get('client')} registered (node {event.get('node_id')})"
    if kind == "round_start":
        return f"[bold]round {round_}/{rounds}[/]: {len(event.get('clients', []))} client(s)"
    if kind == "clients_sampled":
        return f"  round {round_}: drew {', '.join(event.get('clients', []))} ({event.get('of')} registered)"
    if kind == "client_message":
        return f"  round {round_}: {event.get('sender')} sent its distributions"
    if kind == "server_message":
        return f"  round {round_}: the server sent its distributions"
    if kind == "fedavg":
        return f"  round {round_}: adapters averaged"
    if kind == "excluded":
        return f"  [yellow]round {round_} {event.get('step')}: {event.get('client')} left out: {event.get('reason')}[/]"
    if kind == "round_end":
        return f"round {round_}/{rounds} done in {float(event.get('seconds', 0.0)):.0f} s"
    if kind == "eval":
        return f"  score {event.get('phase')}: {event.get('metric')} {float(event.get('value', 0.0)):.1f}"
    if kind == "run_abort":
        return f"[red]run stopped in round {round_} {event.get('step')}: clients left {event.get('clients')}[/]"
    if kind == "run_end":
        return f"ServerApp finished in {float(event.get('seconds', 0.0)):.0f} s"
    return None


_WAITING = {
    None: "waiting for the ServerApp to start (a Python process importing torch: 10-20 s)",
    "nodes": "registering clients",
    "round_start": "clients train on their private data and send distributions",
    "client_message": "waiting for every client's upload",
    "server_message": "clients distil the server's distributions",
    "round_end": "scoring",
}


def watch(proc: subprocess.Popen, metrics: Path, console: Console, rounds: int, poll: float = 0.5) -> int:
    """Print the run's milestones from ``metrics`` until ``proc`` exits; its exit code."""
    follower = LineFollower(metrics)
    last: str | None = None
    start = time.monotonic()
    with console.status(_WAITING[None]) as status:
        while True:
            done = proc.poll() is not None
            for line in follower.new_lines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                text = describe(event, rounds) if isinstance(event, dict) else None
                if text is not None:
                    console.print(f"[dim]{time.monotonic() - start:5.0f} s[/] {text}")
                last = event.get("event") if isinstance(event, dict) and event.get("event") in _WAITING else last
            if done:
                return int(proc.returncode)
            status.update(escape(_WAITING[last]))
            time.sleep(poll)
