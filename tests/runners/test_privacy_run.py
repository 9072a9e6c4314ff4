"""A run with privacy: DP-SGD in every client's private training, what each has spent after every round in
metrics.jsonl, each ledger restored exactly on resume, and refusals before anything trains."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("opacus")

import torch  # noqa: E402
from opacus.accountants import RDPAccountant  # noqa: E402
from resume_helpers import CONFIG, events, fail_manifest_commit, work_events  # noqa: E402

import fedmkt.setup.privacy as setup_privacy  # noqa: E402
from fedmkt.config import parse_config  # noqa: E402
from fedmkt.errors import FedMKTError  # noqa: E402
from fedmkt.runners.local import run_experiment, run_suite  # noqa: E402
from fedmkt.runners.preflight import validated_text  # noqa: E402

PRIVACY = {"noise_multiplier": 1.0, "max_grad_norm": 1.0, "delta": 1e-3}


@pytest.fixture(autouse=True)
def offline_one_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _config(**changes):
    return parse_config({**CONFIG, "privacy": PRIVACY, **changes}, "config.yaml")


def _privacy_events(run_dir) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "time"} for e in events(run_dir) if e["event"] == "privacy"]


def _adapters(run_dir) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("adapter_model.safetensors"))}


def test_every_client_reports_the_accountants_epsilon_after_every_round_and_standalone_its_own(tmp_path):
    config = _config(methods=["Standalone", "FedMKT-SLM", "FedMKT-LLM"], fedmkt={"rounds": 2, "top_k": 8})
    run_suite([config], tmp_path / "run", show_progress=False)
    spent = _privacy_events(tmp_path / "run")
    assert [(e["phase"], e.get("round"), e["participant"]) for e in spent] == [
        ("Standalone/client-1", None, "client-1"), ("Standalone/client-2", None, "client-2"),
        ("FedMKT", 1, "client-1"), ("FedMKT", 1, "client-2"), ("FedMKT", 2, "client-1"), ("FedMKT", 2, "client-2")]
    steps = 2  # 8 private examples, 4 a step, one epoch: q = 1/2
    for e in spent:
        phases = e.get("round") or 1
        reference = RDPAccountant()
        for _ in range(steps * phases):
            reference.step(noise_multiplier=1.0, sample_rate=0.5)
        assert (e["steps"], e["total_steps"], e["phases"], e["sample_rate"]) == (steps, steps * phases, phases, 0.5)
        assert e["epsilon"] == pytest.approx(reference.get_epsilon(delta=1e-3), rel=1e-9) and e["delta"] == 1e-3
    assert [e for e in events(tmp_path / "run") if e["event"] == "train_private"][0]["metrics"]["clipped"] >= 0
    text = (tmp_path / "run" / "results.md").read_text().split("## Differential privacy")[1]
    table = [line for line in text.splitlines() if line.startswith("| ") and "| client-" in line]
    assert [line.split(" | ")[:4] for line in table] == [
        [f"| {e['phase']}", str(e.get("round", "-")), e["participant"], f"{e['epsilon']:.3f}"] for e in spent]
    from fedmkt.models.footprint import lora_parameter_count

    for e in spent:  # a step's noise over its largest signal: noise x sqrt(adapter) / expected batch (0.5 x 8)
        spec = next(c for c in config.clients if c.name == e["participant"])
        assert e["noise_to_signal"] == pytest.approx(1.0 * lora_parameter_count(spec.model, spec.lora.r) ** 0.5 / 4)
    assert [line.split(" | ")[-1] for line in table] == [f"{e['noise_to_signal']:.3g}x |" for e in spent]
    from fedmkt.report.commands import build_results

    report = build_results([tmp_path / "run"], config_dirs=[], link_base=tmp_path, n_resamples=100)
    assert "### Differential privacy: (epsilon, delta) per client and round" in report
    assert all(line in report for line in table)


def test_a_resumed_run_restores_each_ledger_exactly_and_ends_as_the_uninterrupted_run(tmp_path, monkeypatch):
    """Secrets come from the OS (no noise_seed): here a counter, so the clean run and the first attempt draw the
    same ones and the resumed session others; only a ledger restored from the checkpoint gives the clean results."""
    config = _config(methods=["FedMKT-SLM"], fedmkt={"rounds": 2, "top_k": 8})
    drawn = iter(range(100, 200))

    def secrets(*session: int):
        it = iter(session)
        monkeypatch.setattr(setup_privacy, "new_secret", lambda seed, client: next(it, next(drawn)))

    secrets(11, 12)
    clean = run_suite([config], tmp_path / "clean", show_progress=False)
    secrets(11, 12)
    with pytest.MonkeyPatch.context() as patch:
        fail_manifest_commit(patch, 2, "private/client-2")
        with pytest.raises(FedMKTError, match="disk full writing"):
            run_suite([config], tmp_path / "run", show_progress=False)
    manifest = json.loads((tmp_path / "run" / "checkpoints" / "FedMKT" / "manifest.json").read_text())
    assert manifest["done"][-1] == "private/client-1" and manifest["round"] == 2
    assert {c: s["secret"] for c, s in manifest["privacy"].items()} == {"client-1": 11, "client-2": 12}
    assert (manifest["privacy"]["client-1"]["phases"], manifest["privacy"]["client-2"]["phases"]) == (2, 1)
    secrets(98, 99)  # a resume that kept these would train client-2 with other noise
    resumed = run_suite([config], tmp_path / "run", resume=True, show_progress=False)
    assert resumed == clean
    assert _privacy_events(tmp_path / "run") == _privacy_events(tmp_path / "clean")
    assert work_events(tmp_path / "run") == work_events(tmp_path / "clean")
    assert _adapters(tmp_path / "run") == _adapters(tmp_path / "clean")


def test_without_privacy_no_client_reports_a_budget_and_privacy_off_on_every_client_is_the_same_run(tmp_path):
    plain = parse_config({**CONFIG, "methods": ["FedMKT-SLM"], "fedmkt": {"rounds": 1, "top_k": 8}}, "c.yaml")
    off = _config(methods=["FedMKT-SLM"], fedmkt={"rounds": 1, "top_k": 8},
                  clients=[{**c, "privacy": False} for c in CONFIG["clients"]])
    assert run_suite([plain], tmp_path / "plain", show_progress=False) == run_suite(
        [off], tmp_path / "off", show_progress=False)
    assert not _privacy_events(tmp_path / "plain") and not _privacy_events(tmp_path / "off")
    assert _adapters(tmp_path / "plain") == _adapters(tmp_path / "off")


def test_a_schedule_past_its_target_is_refused_before_the_run_folder_exists(tmp_path):
    config = _config(privacy={**PRIVACY, "target_epsilon": 0.5}, methods=["FedMKT-SLM"])
    with pytest.raises(FedMKTError) as caught:
        run_experiment(config, tmp_path / "out", show_progress=False)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("'privacy.target_epsilon' = 0.5: client-1's schedule")
    assert "would reach epsilon" in message and not (tmp_path / "out").exists()


def test_validate_prints_each_clients_planned_budget():
    config = _config(privacy={"target_epsilon": 8.0, "max_grad_norm": 1.0, "delta": 1e-3},
                     methods=["Standalone", "FedMKT-SLM"])
    checked = [line for line in validated_text([config], show_progress=False).splitlines() if "DP-SGD" in line]
    assert [line.split(" DP-SGD in ")[0].split(": ")[-1] for line in checked] == ["client-1", "client-2"] * 2
    assert all("(for target epsilon 8)" in line and "at delta 0.001 (rdp)" in line for line in checked)
    assert "2 phase(s) of 2 steps" in checked[2]


def test_fedavg_clients_train_with_dp_sgd_and_report_after_every_round(tmp_path):
    client = CONFIG["clients"][0]
    config = _config(clients=[client, client], methods=["FedAvg"], fedmkt={"rounds": 2, "top_k": 8})
    run_suite([config], tmp_path / "run", show_progress=False)
    spent = _privacy_events(tmp_path / "run")
    assert [(e["round"], e["participant"], e["phases"]) for e in spent] == [
        (1, "client-1", 1), (1, "client-2", 1), (2, "client-1", 2), (2, "client-2", 2)]
    assert spent[0]["epsilon"] == spent[1]["epsilon"] < spent[2]["epsilon"]  # same schedule; rounds compose
