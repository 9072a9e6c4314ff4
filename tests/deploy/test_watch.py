"""``deploy local``'s console: the ServerApp's events, followed live while ``flwr run`` works."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from rich.console import Console

from fedmkt.deploy.watch import LineFollower, describe, watch

EVENTS = [
    {"event": "run_start", "method": "FedMKT", "name": "tiny-heterogeneous"},
    {"event": "nodes", "connected": 3, "expected": 3},
    {"event": "client_registered", "client": "client-1", "node_id": "11"},
    {"event": "round_start", "round": 1, "clients": ["client-1", "client-2", "client-3"]},
    {"event": "client_message", "round": 1, "sender": "client-1"},
    {"event": "excluded", "round": 1, "step": "upload", "client": "client-3", "reason": "no answer within 600 s"},
    {"event": "server_message", "round": 1, "sender": "server"},
    {"event": "node_timing", "round": 1, "client": "client-1"},
    {"event": "round_end", "round": 1, "seconds": 41.6},
    {"event": "eval", "phase": "FedMKT-LLM/server", "metric": "acc", "value": 31.25, "n": 64},
    {"event": "run_end", "seconds": 97.2},
]


def test_each_milestone_reads_as_one_line_and_the_rest_is_quiet():
    lines = [describe(e, rounds=2) for e in EVENTS]
    assert lines[1] == "nodes connected: 3 of 3" and lines[2] == "client-1 registered (node 11)"
    assert lines[3] == "[bold]round 1/2[/]: 3 client(s)"
    assert "client-3 left out: no answer within 600 s" in lines[5]
    assert lines[7] is None  # per-process timings are for results.md, not the console
    assert lines[8] == "round 1/2 done in 42 s" and lines[9] == "  score FedMKT-LLM/server: acc 31.2"
    assert lines[10] == "ServerApp finished in 97 s"


def test_a_rounds_draw_reads_as_one_line():
    event = {"event": "clients_sampled", "round": 2, "clients": ["client-1", "client-4"], "of": 6, "per_round": 2}
    assert describe(event, rounds=2) == "  round 2: drew client-1, client-4 (6 registered)"


def test_the_follower_waits_for_a_whole_line_and_starts_over_when_the_file_is_cut_back(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = LineFollower(path)
    assert follower.new_lines() == []  # no file yet
    path.write_text('{"a": 1}\n{"b":')
    assert follower.new_lines() == ['{"a": 1}']
    with path.open("a") as handle:
        handle.write(' 2}\n')
    assert follower.new_lines() == ['{"b": 2}']
    path.write_text('{"c": 3}\n')  # shorter than what was read: rewritten
    assert follower.new_lines() == ['{"c": 3}']


WRITER = """
import json, sys, time
events = json.loads(sys.argv[2])
with open(sys.argv[1], "a") as log:
    for event in events:
        log.write(json.dumps(event) + "\\n"); log.flush(); time.sleep(0.05)
sys.exit(int(sys.argv[3]))
"""


def _watched(tmp_path, code: int) -> tuple[int, str]:
    out = io.StringIO()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "metrics.jsonl"), json.dumps(EVENTS),
                             str(code)])
    returned = watch(proc, tmp_path / "metrics.jsonl", Console(file=out, width=200), rounds=2, poll=0.05)
    return returned, out.getvalue()


def test_watch_prints_the_runs_milestones_in_order_while_the_process_lives(tmp_path):
    code, text = _watched(tmp_path, 0)
    assert code == 0
    order = ["ServerApp started: FedMKT of experiment tiny-heterogeneous", "nodes connected: 3 of 3", "round 1/2:",
             "client-1 sent its distributions", "client-3 left out", "the server sent its distributions",
             "round 1/2 done in 42 s", "score FedMKT-LLM/server: acc 31.2", "ServerApp finished in 97 s"]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions), text


def test_watch_returns_the_processes_failure(tmp_path):
    code, text = _watched(tmp_path, 3)
    assert code == 3 and "ServerApp finished" in text  # every event written before the exit is still shown
