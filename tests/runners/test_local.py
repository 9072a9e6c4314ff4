"""The in-process runner end to end on tiny models: run folder contents, rows, resume."""

import io
import json

import pytest
from rich.console import Console
from test_lock import hold_from_another_process, release

from fedmkt.config import load_configs, parse_config
from fedmkt.errors import FedMKTError
from fedmkt.report.results import read_results
from fedmkt.runners.local import run_suite

TINY_CLIENT = {"lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train": {"lr": 3e-3, "batch_size": 8, "max_length": 48}}


def _config(**overrides):
    base = {
        "name": "t",
        "task": "tiny_qa",
        "server": {"model": "tiny-llama-unigram", **TINY_CLIENT},
        "clients": [{"model": "tiny-gpt2-bpe", **TINY_CLIENT}, {"model": "tiny-qwen2-wordpiece", **TINY_CLIENT}],
        "data": {"public_size": 12, "private_size": 12, "eval_size": 12},
        "eval": {"batch_size": 16, "bootstrap": 100},
        "fedmkt": {"rounds": 2, "top_k": 8},
    }
    return parse_config({**base, **overrides}, "test")


@pytest.fixture(scope="module")
def heterogeneous_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    rows = run_suite([_config()], run_dir, show_progress=False)
    return run_dir, rows


def test_run_folder_holds_every_artifact(heterogeneous_run):
    run_dir, rows = heterogeneous_run
    for name in ("config.yaml", "metrics.jsonl", "comm.jsonl", "results.json", "results.md"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "plots").glob("*.png"))
    assert (run_dir / "adapters" / "Standalone" / "client-1" / "adapter_config.json").is_file()
    assert (run_dir / "adapters" / "FedMKT" / "round-2" / "server" / "adapter_model.safetensors").is_file()
    assert read_results(run_dir / "results.json") == rows


def test_rows_use_the_papers_method_names_and_cover_each_participant(heterogeneous_run):
    _, rows = heterogeneous_run
    acc = [r for r in rows if r.metric == "acc"]
    seen = {(r.method, r.participant) for r in acc}
    for client in ("client-1", "client-2"):
        for method in ("SLM-ZS", "Standalone", "FedMKT-SLM"):
            assert (method, client) in seen
    for method in ("LLM-ZS", "Centralized-LLM", "FedMKT-LLM"):
        assert (method, "server") in seen
    assert {r.round for r in acc if r.method == "FedMKT-LLM"} == {1, 2}
    for r in acc:
        assert r.scenario == "heterogeneous" and r.n == 12 and r.ci_low <= r.value <= r.ci_high


def test_metrics_and_comm_ledger_record_each_phase_and_message(heterogeneous_run):
    run_dir, _ = heterogeneous_run
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    ends = [e["phase"] for e in events if e["event"] == "phase_end"]
    assert ends == ["LLM-ZS", "SLM-ZS", "Standalone/client-1", "Standalone/client-2", "Centralized-LLM", "FedMKT"]
    comm = [json.loads(line) for line in (run_dir / "comm.jsonl").read_text().splitlines()]
    assert len(comm) == 2 * 2 * 2  # rounds x clients x (up, down)
    assert all(c["bytes"] > 0 for c in comm)
    report = (run_dir / "results.md").read_text()
    assert "## Communication" in report and "LoRA adapter of tiny-gpt2-bpe" in report
    rounds = [e for e in events if e["event"] == "round_end"]
    assert [e["round"] for e in rounds] == [1, 2]
    for e in rounds:
        parts = e["breakdown"]
        assert {"model_compute", "alignment", "selection", "serialisation", "deserialisation_validation",
                "disk_io"} <= set(parts)
        assert 0.0 <= e["overhead_share"] < 1.0
        assert abs(sum(parts.values()) - e["seconds"]) <= 0.01 * e["seconds"] + 0.01
        assert e["overhead_share"] == pytest.approx(1 - parts["model_compute"] / e["seconds"], abs=2e-3)
    assert "## Time per round" in report


def test_resume_skips_finished_phases(tmp_path):
    config = _config(methods=["LLM-ZS", "SLM-ZS"])
    first = run_suite([config], tmp_path, show_progress=False)
    (tmp_path / "phases" / "SLM-ZS.json").unlink()  # as if killed during SLM-ZS
    again = run_suite([config], tmp_path, resume=True, show_progress=False)
    assert again == first
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["phase"] for e in events if e["event"] == "phase_skipped"] == ["LLM-ZS"]
    # the redone phase's events of the first run were cut from the log: each phase started and ended once
    assert [e["phase"] for e in events if e["event"] in ("phase_start", "phase_end")] == [
        "LLM-ZS", "LLM-ZS", "SLM-ZS", "SLM-ZS"]


def test_each_base_model_is_scored_once_even_across_llm_and_slm_zero_shot(tmp_path):
    """A client on the server's model (the heterogeneous setting's Gemma client) reuses LLM-ZS's scoring."""
    from fedmkt.report.scores import ScoreIndex

    clients = [{"model": "tiny-llama-unigram", **TINY_CLIENT}, {"model": "tiny-gpt2-bpe", **TINY_CLIENT},
               {"model": "tiny-gpt2-bpe", **TINY_CLIENT}]
    rows = run_suite([_config(clients=clients, methods=["LLM-ZS", "SLM-ZS"])], tmp_path, show_progress=False)
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["phase"] for e in events if e["event"] == "eval"] == ["LLM-ZS/server", "SLM-ZS/client-2"]
    acc = {(r.method, r.participant): r for r in rows if r.metric == "acc"}
    llm, same_model = acc[("LLM-ZS", "server")], acc[("SLM-ZS", "client-1")]
    assert (same_model.value, same_model.ci_low, same_model.ci_high) == (llm.value, llm.ci_low, llm.ci_high)
    assert same_model.role == "slm" and same_model.model == "tiny-llama-unigram"
    assert acc[("SLM-ZS", "client-3")].value == acc[("SLM-ZS", "client-2")].value
    index = ScoreIndex.load(tmp_path)  # every row finds per-example scores for the paired tests
    assert all(index.for_row(r) is not None for r in acc.values())
    assert index.for_row(same_model).participant == "client-1"


def test_homogeneous_and_one_to_one_methods(tmp_path):
    homo = _config(name="homo", clients=[{"model": "tiny-gpt2-bpe", **TINY_CLIENT}] * 2,
                   methods=["FedAvg", "FedMKT-SLM-FedAvg"], fedmkt={"rounds": 1, "top_k": 8})
    one = _config(name="one", clients=[{"model": "tiny-gpt2-bpe", **TINY_CLIENT}], methods=["LLM2SLM"],
                  fedmkt={"rounds": 1, "top_k": 8})
    rows = run_suite([homo, one], tmp_path, show_progress=False)
    acc = {(r.method, r.participant, r.scenario): r.value for r in rows if r.metric == "acc"}
    assert acc[("FedAvg", "client-1", "homogeneous")] == acc[("FedAvg", "client-2", "homogeneous")]
    assert ("FedMKT-SLM-FedAvg", "client-2", "homogeneous") in acc
    assert ("LLM2SLM", "client-1", "one-to-one") in acc
    assert (tmp_path / "homo" / "results.md").is_file()
    assert "# Suite: homo, one" in (tmp_path / "results.md").read_text()
    sent = [json.loads(line) for line in (tmp_path / "one" / "comm.jsonl").read_text().splitlines()]
    assert {(m["sender"], m["receiver"]) for m in sent} == {("server", "client-1")}  # LLM2SLM: nothing goes up


def _quick(**overrides):
    """One zero-shot phase on 4 examples: a started (and finished) run folder in about a second."""
    return _config(methods=["LLM-ZS"], data={"public_size": 4, "private_size": 4, "eval_size": 4}, **overrides)


def _quiet():
    return Console(file=io.StringIO(), width=400)


def test_the_start_records_the_config_digest_and_a_resume_of_an_edited_config_is_refused(tmp_path):
    run_suite([_quick()], tmp_path, show_progress=False, console=_quiet())
    record = json.loads((tmp_path / "run.json").read_text())
    (start,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                if json.loads(line)["event"] == "run_start"]
    assert start["config_sha256"] == record["config_sha256"] and len(record["config_sha256"]) == 64

    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    edited = _quick(fedmkt={"rounds": 2, "top_k": 8, "kd_weight": 0.5})
    with pytest.raises(FedMKTError) as refused:
        run_suite([edited], tmp_path, resume=True, show_progress=False, console=_quiet())
    assert str(refused.value) == (f"{tmp_path / 'config.yaml'} was changed after the run started (fedmkt.kd_weight: "
                                  f"0.1 at start, 0.5 now); resuming would mix settings: restore it, or start a new "
                                  f"run with --out")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing touched

    # the folder's own config.yaml, as `--resume` loads it, is the config the run started with
    run_suite(load_configs(tmp_path / "config.yaml"), tmp_path, resume=True, show_progress=False, console=_quiet())
    resumed = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    assert resumed["event"] == "run_end"


def test_a_resume_while_another_process_runs_the_folder_is_refused(tmp_path):
    run_suite([_quick()], tmp_path, show_progress=False, console=_quiet())
    holder = hold_from_another_process(tmp_path)
    try:
        with pytest.raises(FedMKTError, match=rf"is in use: another fedmkt process \(pid {holder.pid}\) is running it"):
            run_suite([_quick()], tmp_path, resume=True, show_progress=False, console=_quiet())
    finally:
        release(holder)
    run_suite([_quick()], tmp_path, resume=True, show_progress=False, console=_quiet())


def test_a_fresh_run_reuses_what_a_failed_start_left_but_never_a_started_run(tmp_path):
    for name in ("config.yaml", "metrics.jsonl", "run.json"):  # an older fedmkt's failed start left these
        (tmp_path / name).write_text("left over\n")
    rows = run_suite([_quick()], tmp_path, show_progress=False, console=_quiet())
    assert rows and "left over" not in (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(FedMKTError, match=f"{tmp_path} already holds files; pick a new folder or use --resume"):
        run_suite([_quick()], tmp_path, show_progress=False, console=_quiet())


def test_a_folder_of_an_older_fedmkt_resumes_with_a_note(tmp_path):
    run_suite([_quick()], tmp_path, show_progress=False, console=_quiet())
    (tmp_path / "run.json").unlink()
    console = _quiet()
    run_suite([_quick()], tmp_path, resume=True, show_progress=False, console=console)
    assert f"note: {tmp_path} has no run.json (written by an older fedmkt)" in console.file.getvalue()
    assert json.loads((tmp_path / "run.json").read_text())["recorded_at"] == "resume"


def test_a_suite_refuses_an_experiment_name_that_would_leave_its_folder(tmp_path):
    with pytest.raises(FedMKTError, match=r"^'name' '../escape' holds a '/'"):
        run_suite([_quick(name="../escape"), _quick(name="ok")], tmp_path / "suite", show_progress=False)
    assert not (tmp_path / "suite").exists() and not (tmp_path / "escape").exists()
