"""The run journal: finished phases and their watermarks, and cutting the logs back on resume."""

from __future__ import annotations

import json
from dataclasses import asdict

from fedmkt.report.results import ResultRow
from fedmkt.runners import journal

ROW = ResultRow(scenario="one-to-one", method="Standalone", model="tiny-gpt2-bpe", role="slm",
                participant="client-1", task="tiny_qa", metric="acc", value=50.0, n=8, ci_low=25.0, ci_high=75.0)


def _append(path, text):
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_logs_are_cut_back_to_the_newest_finished_record(tmp_path):
    metrics, comm = tmp_path / "metrics.jsonl", tmp_path / "comm.jsonl"
    _append(metrics, '{"event": "run_start"}\n')
    journal.mark_start(tmp_path)
    _append(metrics, '{"event": "phase_end", "phase": "Standalone/client-1"}\n')
    _append(comm, '{"bytes": 1}\n')
    journal.write_phase(tmp_path, "Standalone/client-1", [ROW])
    kept = metrics.read_text(), comm.read_text()
    _append(metrics, '{"event": "phase_start", "phase": "FedMKT"}\n{"event": "round_st')  # killed mid-line
    _append(comm, '{"bytes": 2}\n')

    mark = journal.rewind_logs(tmp_path)
    assert (metrics.read_text(), comm.read_text()) == kept
    assert mark == journal.Watermark(len(kept[0]), len(kept[1]))
    assert journal.read_phase(tmp_path, "Standalone/client-1") == [ROW]
    assert journal.read_phase(tmp_path, "FedMKT") is None
    assert journal.rewind_logs(tmp_path) == mark  # nothing more to cut


def test_folders_without_watermarks_are_left_alone(tmp_path):
    """A run folder of an older fedmkt: bare row lists, no start record; its logs are not cut."""
    (tmp_path / "phases").mkdir()
    (tmp_path / "phases" / "LLM-ZS.json").write_text(json.dumps([asdict(ROW)]))
    _append(tmp_path / "metrics.jsonl", '{"event": "run_start"}\n')
    assert journal.rewind_logs(tmp_path) is None
    assert (tmp_path / "metrics.jsonl").read_text() == '{"event": "run_start"}\n'
    assert journal.read_phase(tmp_path, "LLM-ZS") == [ROW]
