"""The transfer tables, from the events a real tiny run logged."""

from __future__ import annotations

import json

from fedmkt.report.transfer import render_messages, render_selection, render_transfer


def _events(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_each_message_of_the_run_gets_a_line_with_its_gold_agreement(tiny_run):
    _, run_dir = tiny_run
    events = _events(run_dir)
    messages = [e for e in events if e["event"] in ("client_message", "server_message")]
    table = render_messages(events).splitlines()
    assert len(table) == 2 + len(messages) and len(messages) == 2 * 3  # 2 rounds x (2 clients + server)
    first = messages[0]
    assert table[2] == (f"| {first['phase']} | {first['round']} | {first['sender']} | {first['n_positions']} | "
                        f"{100 * first['gold_top1']:.1f}% | {first['gold_prob']:.3f} |")


def test_selection_lines_count_every_public_sample_and_the_aligned_positions(tiny_run):
    _, run_dir = tiny_run
    events = _events(run_dir)
    aligns = [e for e in events if e["event"] in ("server_align", "client_align")]
    table = render_selection(events).splitlines()[2:]
    assert len(table) == len(aligns) == 2 * 3
    public = 8
    for line, event in zip(table, aligns, strict=True):
        assert sum(event["counts"].values()) == public
        assert f"| {event['receiver']} |" in line
        for peer, n in event["counts"].items():
            assert f"{peer} {n}" in line
        if event["rows"]:
            assert f"{event['matched_rows']} of {event['rows']} (" in line


def test_a_run_without_a_federated_phase_has_no_transfer_section():
    assert render_transfer([{"event": "eval", "phase": "Standalone"}]) == ""
    one = [{"event": "server_align", "phase": "FedMKT", "round": 1, "receiver": "server",
            "counts": {"none": 1, "client-1": 3}, "aligned_samples": 3, "rows": 0, "matched_rows": 0}]
    assert "| FedMKT | 1 | server | client-1 3, none 1 | 3 | - |" in render_transfer(one)
