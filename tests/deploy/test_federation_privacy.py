"""A Flower federation with privacy (only the transport replaced, ``InProcessGrid``): each node keeps its client's
DP-SGD ledger, replies with what it has spent and without its private losses, and a resumed server gets the
uninterrupted run's results and epsilons, as the in-process runner does."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr", reason="flwr is not installed: pip install 'fedmkt[flower]'")
pytest.importorskip("opacus")

from rich.console import Console  # noqa: E402
from test_federation import (  # noqa: E402
    HETEROGENEOUS,
    _config,
    _federate,
    _grid,
    _nodes,
    _same_adapters,
    _ServerStopped,
    _stop_at,
)

from fedmkt.config import parse_config  # noqa: E402
from fedmkt.runners.local import run_experiment  # noqa: E402

PRIVACY = {"noise_multiplier": 1.0, "max_grad_norm": 1.0, "delta": 1e-3, "noise_seed": 5}


def _spent(events: list[dict]) -> list[tuple]:
    return [(e["round"], e["participant"], e["epsilon"], e["total_steps"], e["phases"]) for e in events
            if e["event"] == "privacy"]


def _reference(tmp_path, config: dict) -> tuple[list, list[dict]]:
    rows = run_experiment(parse_config(config, "test"), tmp_path / "ref", show_progress=False,
                          console=Console(quiet=True))
    return rows, [json.loads(line) for line in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["FedMKT", "FedAvg"])
def test_nodes_keep_their_ledgers_and_the_server_logs_the_runners_epsilons_without_private_losses(tmp_path, method):
    models = HETEROGENEOUS[:2] if method == "FedMKT" else HETEROGENEOUS[:1] * 2
    config = {**_config(models, rounds=2, method=method), "privacy": PRIVACY}
    rows, events = _federate(tmp_path, config, _grid(tmp_path, _nodes(tmp_path, 2)), method=method,
                             **{"min-clients": 1})
    reference, ref_events = _reference(tmp_path, config)
    assert rows == reference
    assert _spent(events) == _spent(ref_events) and len(_spent(events)) == 4  # two clients, two rounds
    for e in (e for e in events if e["event"] == "train_private"):  # what reached the server from each node
        assert not {"mean_loss", "tokens", "metrics"} & set(e) and e["steps"] > 0
    for i in (1, 2):
        folder = tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}"
        ledger = json.loads((folder / "privacy.json").read_text())
        assert ledger["phases"] == 2 and sum(s for _, _, s in ledger["history"]) == _spent(events)[-1][3]
        assert json.loads((folder / "privacy-round-1.json").read_text())["phases"] == 1
        assert _same_adapters(folder / "adapter.safetensors", tmp_path / "ref" / "adapters" / method / "round-2"
                              / f"client-{i}" / "adapter_model.safetensors")
    assert "## Differential privacy" in (tmp_path / "run" / "results.md").read_text()


def test_a_stopped_server_resumes_with_each_nodes_ledger_of_the_round_it_restarts_from(tmp_path):
    """Stopped once client-1 finished round 2 (its ledger holds two phases): the resumed run redoes round 2 from
    round 1's ledger and adapter, so it spends and reports what the uninterrupted run does."""
    config = {**_config(HETEROGENEOUS[:2], rounds=2), "privacy": PRIVACY}
    nodes = _nodes(tmp_path, 2)
    first = _grid(tmp_path, nodes, run_id=1)
    first.kill_after = _stop_at("train.distill", 2, 11, after=True)
    with pytest.raises(_ServerStopped):
        _federate(tmp_path, config, first, method="FedMKT", **{"min-clients": 1})
    assert json.loads((tmp_path / "cache-1" / "runs" / "1" / "client-1" / "privacy.json").read_text())["phases"] == 2
    rows, events = _federate(tmp_path, config, _grid(tmp_path, nodes, run_id=2), method="FedMKT", resume=True,
                             **{"min-clients": 1})
    reference, ref_events = _reference(tmp_path, config)
    assert rows == reference
    assert _spent(events) == _spent(ref_events)
    for i in (1, 2):
        ledger = json.loads((tmp_path / f"cache-{i}" / "runs" / "1" / f"client-{i}" / "privacy.json").read_text())
        assert ledger["phases"] == 2
