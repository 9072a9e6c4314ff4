"""The communication ledger and its tables, on ledgers written by CommLedger."""

from __future__ import annotations

from pathlib import Path

from fedmkt.report.comm import (
    CommLedger,
    bytes_per_client_round,
    client_adapter_bytes,
    render_comm_summary,
    render_comm_table,
)


def _ledger(tmp_path: Path) -> list[dict]:
    """Two rounds of FedMKT-FedAvg with two clients whose uploads differ in size, and one FedAvg baseline round."""
    ledger = CommLedger(tmp_path / "comm.jsonl")
    for round_ in (1, 2):
        for client, up in (("client-1", 1000), ("client-2", 3000)):
            ledger.record(method="FedMKT-FedAvg", round=round_, sender=client, receiver="server", kind="topk",
                          nbytes=up)
            ledger.record(method="FedMKT-FedAvg", round=round_, sender="server", receiver=client, kind="topk",
                          nbytes=4096)
            for sender, receiver in ((client, "server"), ("server", client)):
                ledger.record(method="FedMKT-FedAvg", round=round_, sender=sender, receiver=receiver, kind="lora",
                              nbytes=8192)
    ledger.record(method="FedAvg", round=1, sender="client-1", receiver="server", kind="lora", nbytes=8192)
    return ledger.read()


def test_bytes_per_client_round_averages_each_kind_and_direction(tmp_path):
    sizes = bytes_per_client_round(_ledger(tmp_path))
    fedmkt = sizes["FedMKT-FedAvg"]
    assert fedmkt["topk_up"] == 2000  # (1000 + 3000) / 2 per client-round
    assert fedmkt["topk_down"] == 4096
    assert fedmkt["lora_up"] == fedmkt["lora_down"] == 8192
    assert (fedmkt["clients"], fedmkt["rounds"]) == (2, 2)
    assert sizes["FedAvg"] == {"lora_up": 8192, "clients": 1, "rounds": 1}


def test_the_adapter_compared_with_is_the_largest_client_adapter_not_the_servers():
    events = [
        {"event": "model_size", "participant": "server", "model": "big", "lora_bytes": 99_999, "full_bytes": 10**9},
        {"event": "model_size", "participant": "client-1", "model": "a", "lora_bytes": 10_240, "full_bytes": 10**8},
        {"event": "model_size", "participant": "client-2", "model": "b", "lora_bytes": 20_480, "full_bytes": 10**8},
        # a frozen model (no adapter) reports all its weights as trainable: not an adapter
        {"event": "model_size", "participant": "client-3", "model": "c", "lora_bytes": 10**8, "full_bytes": 0},
    ]
    assert client_adapter_bytes(events) == 20_480
    assert client_adapter_bytes([]) is None


def test_the_summary_sets_the_top_k_round_trip_against_the_adapter_round_trip(tmp_path):
    events = [{"event": "model_size", "participant": "client-1", "model": "a", "lora_bytes": 12_288,
               "full_bytes": 10**8}]
    table = render_comm_summary({"run-a": (_ledger(tmp_path), events)})
    fedmkt_line = next(line for line in table.splitlines() if "| FedMKT-FedAvg |" in line)
    # a round trip of top-k is 2000 + 4096 bytes; the adapter's is 2 * 12288 bytes
    assert fedmkt_line.endswith(f"| {2 * 12_288 / 6096:.1f}x smaller |")
    assert "| 2 | 2 | 2 | 4 | 8 | 12 |" in fedmkt_line  # clients, rounds, then KiB
    fedavg_line = next(line for line in table.splitlines() if "| FedAvg |" in line)
    assert fedavg_line.endswith("| - |")  # no top-k exchange to compare
    assert render_comm_summary({"empty": ([], [])}) == ""


def test_the_per_run_table_sums_all_clients_per_round_and_direction(tmp_path):
    table = render_comm_table(_ledger(tmp_path), {"LoRA adapter of a": 12_288})
    assert "| FedMKT-FedAvg | 1 | up (clients -> server) | 20,384 | 0.02 |" in table  # 1000 + 3000 + 2 x 8192
    assert "| LoRA adapter of a | 12,288 | 0.01 |" in table
