"""One experiment folder as a section: unfinished runs, resumed sessions, suite folders."""

import shutil

from fedmkt.report.reproduce import Reproduction
from fedmkt.report.run_section import (
    experiment_folders,
    load_experiment,
    render_experiment,
    render_wall_times,
)


def test_an_unfinished_run_is_reported_from_its_finished_phases(tiny_run, tmp_path):
    _, run_dir = tiny_run
    copy = tmp_path / "stopped"
    shutil.copytree(run_dir, copy)
    (copy / "results.json").unlink()
    for name in ("FedMKT-FedAvg", "FedAvg"):  # these phases never finished
        (copy / "phases" / f"{name}.json").unlink()
    folder = load_experiment(copy)
    assert not folder.finished
    assert {r.method for r in folder.rows} == {"LLM-ZS", "SLM-ZS", "Standalone", "Centralized-LLM"}
    text = render_experiment(folder, [], Reproduction("fedmkt run x.yaml --out y"), tmp_path)
    assert text.startswith("## tiny-homogeneous: tiny_qa, homogeneous (unfinished: rows of the finished phases only)")
    assert "| Standalone |" in text and "No claim of the paper compares methods this run has." in text


def test_wall_times_count_every_finished_session_and_each_phase():
    events = [{"event": "run_start"}, {"event": "phase_end", "phase": "LLM-ZS", "seconds": 4.0},
              {"event": "run_resume"}, {"event": "phase_end", "phase": "FedMKT", "seconds": 30.5},
              {"event": "run_end", "seconds": 40.2}]
    text = render_wall_times(events)
    assert text.startswith("Run wall time: **40 s** over 1 of 2 sessions (the run was resumed;")
    assert "| LLM-ZS | 4.0 |" in text and "| FedMKT | 30.5 |" in text and "| all phases | 34.5 |" in text
    assert render_wall_times(events[:2]).startswith("Run wall time: not recorded (the run has not finished")


def test_a_suite_folder_gives_its_experiments_in_the_suites_order(tiny_run, tmp_path):
    from fedmkt.config import dump_configs, load_configs

    _, run_dir = tiny_run
    (config,) = load_configs(run_dir / "config.yaml")
    suite = tmp_path / "suite"
    for name in ("zeta", "alpha"):
        shutil.copytree(run_dir, suite / name)
    (suite / "config.yaml").write_text(dump_configs([config.model_copy(update={"name": n}) for n in ("zeta", "alpha")]))
    assert experiment_folders(suite) == [suite / "zeta", suite / "alpha"]
    assert experiment_folders(run_dir) == [run_dir]

