"""Events -> tracker points: names, steps (the round, the optimiser step), and the config as flat params."""

from fedmkt.config import parse_config
from fedmkt.tracking.points import Points, config_params, series_name


def _eval(phase, value, **extra):
    return {"time": 5.0, "event": "eval", "phase": phase, "metric": "acc", "value": value, "n": 8, **extra}


def test_a_score_is_placed_at_the_round_it_follows_and_at_0_outside_rounds():
    points = Points()
    seen = []
    for event in [
        {"event": "phase_start", "phase": "Standalone/client-1"},
        _eval("Standalone/client-1", 40.0),
        {"event": "phase_end", "phase": "Standalone/client-1"},
        {"event": "phase_start", "phase": "FedMKT"},
        {"event": "round_start", "phase": "FedMKT", "round": 1},
        {"event": "round_end", "phase": "FedMKT", "round": 1, "seconds": 2.0},
        _eval("FedMKT-SLM/client-1", 50.0, acc_norm=45.0, acc_norm_ci_low=30.0, acc_norm_ci_high=60.0),
        {"event": "round_start", "phase": "FedMKT", "round": 2},
        _eval("FedMKT-SLM/client-1", 55.0),
    ]:
        seen += points(event)
    scores = [(p.name, p.step, p.value) for p in seen if p.name.startswith("eval/")]
    assert scores == [("eval/Standalone/client-1/acc", 0, 40.0), ("eval/FedMKT-SLM/client-1/acc", 1, 50.0),
                      ("eval/FedMKT-SLM/client-1/acc_norm", 1, 45.0), ("eval/FedMKT-SLM/client-1/acc", 2, 55.0)]


def test_a_resumed_phase_takes_its_round_from_phase_resumed():
    points = Points()
    points({"event": "phase_resumed", "phase": "FedMKT", "round": 3, "after_step": "server_train"})
    (point,) = points(_eval("FedMKT-LLM/server", 61.0))
    assert (point.name, point.step) == ("eval/FedMKT-LLM/server/acc", 3)


def test_optimiser_steps_count_per_series_and_keep_each_loss():
    points = Points()
    step = {"event": "train_step", "phase": "Standalone/client-1", "participant": "client-1", "loss": 2.5,
            "lr": 1e-4, "grad_norm": 0.7, "sft_loss": 2.5, "tokens": 90, "seconds": 0.2, "epoch": 0}
    first, second = points(step), points({**step, "loss": 2.0, "sft_loss": 2.0})
    assert {(p.name, p.step, p.value) for p in first} == {
        ("train/Standalone/client-1/loss", 1, 2.5), ("train/Standalone/client-1/lr", 1, 1e-4),
        ("train/Standalone/client-1/grad_norm", 1, 0.7), ("train/Standalone/client-1/sft_loss", 1, 2.5)}
    assert {p.step for p in second} == {2} and ("train/Standalone/client-1/loss", 2.0) in {
        (p.name, p.value) for p in second}
    (other,) = [p for p in points({**step, "phase": "Centralized-LLM", "participant": "server"})
                if p.name.endswith("/loss")]
    assert (other.name, other.step) == ("train/Centralized-LLM/server/loss", 1)


def test_a_rounds_training_gives_its_mean_loss_and_metrics_at_that_round():
    event = {"event": "client_train", "phase": "FedMKT", "participant": "client-2", "round": 2, "data": "public",
             "mean_loss": 3.0, "metrics": {"sft_loss": 3.2, "kd_loss": 1.1}, "steps": 4}
    got = {(p.name, p.step, p.value) for p in Points()(event)}
    assert got == {("train/FedMKT/client-2/public_loss", 2, 3.0), ("train/FedMKT/client-2/public_sft_loss", 2, 3.2),
                   ("train/FedMKT/client-2/public_kd_loss", 2, 1.1)}


def test_a_round_end_carries_the_ledgers_bytes_and_time():
    asked = []

    def ledger(phase, round_):
        asked.append((phase, round_))
        return 1200, 2600

    got = {(p.name, p.step, p.value) for p in Points(ledger)(
        {"event": "round_end", "phase": "FedMKT", "round": 3, "seconds": 1.5, "overhead_share": 0.25})}
    assert asked == [("FedMKT", 3)]
    assert got == {("comm/FedMKT/up_bytes", 3, 1200.0), ("comm/FedMKT/down_bytes", 3, 2600.0),
                   ("time/FedMKT/round_seconds", 3, 1.5), ("time/FedMKT/overhead_share", 3, 0.25)}


def test_names_keep_their_path_and_lose_what_mlflow_refuses():
    assert series_name("eval", "FedMKT-SLM/client 1", "acc") == "eval/FedMKT-SLM/client 1/acc"
    assert series_name("train", "x?y/..", "loss") == "train/x_y/_/loss"


def test_the_config_becomes_flat_params_with_numbers_kept():
    config = parse_config({"task": "tiny_qa", "server": {"model": "a"}, "clients": [{"model": "b"}, {"model": "c"}],
                           "fedmkt": {"rounds": 3}}, "test")
    params = config_params(config.model_dump(mode="json"))
    assert params["fedmkt.rounds"] == 3 and params["clients.1.model"] == "c" and params["server.name"] == "server"
    assert params["clients.0.train.betas"] == "[0.9, 0.95]" and params["runtime.threads"] == "null"
    assert params["fedmkt.train_private_each_round"] is True
