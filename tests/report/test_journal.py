"""The run journal: finished phases and their watermarks, cutting the logs back on resume, damage inside them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.report import journal
from fedmkt.report.results import ResultRow

ROW = ResultRow(scenario="one-to-one", method="Standalone", model="tiny-gpt2-bpe", role="slm",
                participant="client-1", task="tiny_qa", metric="acc", value=50.0, n=8, ci_low=25.0, ci_high=75.0)


def _append(path, text):
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _journal(run_dir):
    """A run folder's logs and records: the start, two finished phases, then events of unfinished work.

    Returns the logs' content at each record: (start, after phase A, after phase B).
    """
    metrics, comm = run_dir / "metrics.jsonl", run_dir / "comm.jsonl"
    _append(metrics, '{"event": "run_start"}\n{"event": "data_split"}\n')
    journal.mark_start(run_dir)
    at_start = metrics.read_text()
    _append(metrics, '{"event": "phase_start", "phase": "A"}\n{"event": "phase_end", "phase": "A"}\n')
    _append(comm, '{"bytes": 1}\n')
    journal.write_phase(run_dir, "A", [ROW])
    after_a = metrics.read_text(), comm.read_text()
    _append(metrics, '{"event": "phase_start", "phase": "B"}\n{"event": "phase_end", "phase": "B"}\n')
    _append(comm, '{"bytes": 2}\n')
    journal.write_phase(run_dir, "B", [ROW])
    after_b = metrics.read_text(), comm.read_text()
    _append(metrics, '{"event": "phase_start", "phase": "C"}\n{"event": "round_st')  # killed mid-line
    _append(comm, '{"bytes": 3}\n')
    return at_start, after_a, after_b


def test_logs_are_cut_back_to_the_newest_finished_record(tmp_path):
    _, _, kept = _journal(tmp_path)
    mark, note = journal.rewind_logs(tmp_path)
    assert ((tmp_path / "metrics.jsonl").read_text(), (tmp_path / "comm.jsonl").read_text()) == kept
    assert note is None
    assert (mark.metrics_bytes, mark.comm_bytes) == (len(kept[0]), len(kept[1]))
    assert mark.metrics_sha256 == hashlib.sha256(kept[0].encode()).hexdigest()
    assert journal.read_phase(tmp_path, "B") == [ROW]
    assert journal.read_phase(tmp_path, "C") is None
    assert journal.rewind_logs(tmp_path) == (mark, None)  # nothing more to cut


def _tear(path, line: int) -> None:
    """Replace line ``line`` (1-based) by its first half, as a torn write would leave it."""
    lines = path.read_text().splitlines(keepends=True)
    lines[line - 1] = lines[line - 1][: len(lines[line - 1]) // 2]
    path.write_text("".join(lines))


def test_a_torn_line_inside_a_finished_phase_is_recovered_by_redoing_that_phase(tmp_path):
    _, after_a, _ = _journal(tmp_path)
    _tear(tmp_path / "metrics.jsonl", 6)  # phase B's phase_end: inside the part phases/B.json counts
    mark, note = journal.rewind_logs(tmp_path)
    assert note.startswith(f"{tmp_path / 'metrics.jsonl'}:6: not a JSON line (")
    assert note.endswith("), inside the part phases/B.json counts: redoing B, whose logged events it held")
    assert ((tmp_path / "metrics.jsonl").read_text(), (tmp_path / "comm.jsonl").read_text()) == after_a
    assert (mark.metrics_bytes, mark.comm_bytes) == (len(after_a[0]), len(after_a[1]))
    assert journal.read_phase(tmp_path, "B") is None  # redone on resume
    assert journal.read_phase(tmp_path, "A") == [ROW]


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_text(p.read_text().replace('"A"}', '"X"}', 1)), "lines 3-4 differ from what was counted"),
    (lambda p: p.write_bytes(p.read_bytes()[:60]), "is 60 bytes, shorter than the"),
], ids=["edited-but-valid-json", "cut-short"])
def test_other_damage_below_the_watermark_is_found_and_named(tmp_path, damage, words):
    _journal(tmp_path)
    damage(tmp_path / "metrics.jsonl")
    _, note = journal.rewind_logs(tmp_path)
    assert str(tmp_path / "metrics.jsonl") in note and words in note and "phases/A.json counts" in note
    assert journal.read_phase(tmp_path, "A") is None and journal.read_phase(tmp_path, "B") is None


def test_damage_in_the_comm_ledger_is_found_too(tmp_path):
    _journal(tmp_path)
    comm = tmp_path / "comm.jsonl"
    comm.write_text(comm.read_text().replace('{"bytes": 2}', '{"bytes": 9}'))
    _, note = journal.rewind_logs(tmp_path)
    assert note.startswith(f"{comm} lines 2-2 differ") and "phases/B.json counts: redoing B" in note


def test_damage_in_the_opening_events_is_refused_in_one_line(tmp_path):
    _journal(tmp_path)
    _tear(tmp_path / "metrics.jsonl", 2)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(FedMKTError) as refused:
        journal.rewind_logs(tmp_path)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'metrics.jsonl'}:2: not a JSON line")
    assert "opening events are damaged" in message and "--out <new folder>" in message
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing deleted


def test_a_phase_file_whose_rows_do_not_match_their_digest_is_refused(tmp_path):
    journal.write_phase(tmp_path, "Standalone/client-1", [ROW])
    path = journal.phase_file(tmp_path, "Standalone/client-1")
    path.write_text(path.read_text().replace('"value": 50.0', '"value": 90.0'))
    with pytest.raises(FedMKTError, match=r"Standalone__client-1.json: its rows do not match the digest"):
        journal.read_phase(tmp_path, "Standalone/client-1")
    assert journal.phase_damage(tmp_path) == [f"{path}: its rows do not match the digest written with them "
                                              f"(damaged or edited)"]
    path.write_text(path.read_text()[:40])  # cut short: not JSON any more
    with pytest.raises(FedMKTError, match=r"unreadable .*delete it to redo"):
        journal.read_phase(tmp_path, "Standalone/client-1")


def test_folders_without_watermarks_are_left_alone(tmp_path):
    """A run folder of an older fedmkt: bare row lists, no start record; its logs are not cut."""
    (tmp_path / "phases").mkdir()
    (tmp_path / "phases" / "LLM-ZS.json").write_text(json.dumps([asdict(ROW)]))
    _append(tmp_path / "metrics.jsonl", '{"event": "run_start"}\n')
    assert journal.rewind_logs(tmp_path) == (None, None)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"event": "run_start"}\n'
    assert journal.read_phase(tmp_path, "LLM-ZS") == [ROW]


def test_records_of_an_older_fedmkt_without_digests_still_cut_the_logs(tmp_path):
    _, _, kept = _journal(tmp_path)
    for path in [tmp_path / "checkpoints" / "run.json", *(tmp_path / "phases").glob("*.json")]:
        record = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in record.items() if not k.endswith("sha256")}))
    mark, note = journal.rewind_logs(tmp_path)
    assert note is None and mark.metrics_sha256 is None
    assert (tmp_path / "metrics.jsonl").read_text() == kept[0]


def test_what_a_failed_start_leaves_can_be_cleared_and_nothing_else(tmp_path):
    assert journal.leftovers(tmp_path / "new") == []
    for name in ("config.yaml", "metrics.jsonl", "run.json", ".lock"):
        (tmp_path / name).write_text("x")
    (tmp_path / "exp").mkdir()  # a suite's experiment that failed before its first phase
    (tmp_path / "exp" / "metrics.jsonl").write_text("x")
    journal.clear_for_fresh_run(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".lock", "exp"]

    journal.mark_start(tmp_path)  # a started run: never cleared
    with pytest.raises(FedMKTError, match="already holds files; pick a new folder or use --resume"):
        journal.clear_for_fresh_run(tmp_path)
    (tmp_path / "checkpoints" / "run.json").unlink()
    (tmp_path / "notes.txt").write_text("mine")  # a user's file: never deleted
    with pytest.raises(FedMKTError, match="already holds files"):
        journal.clear_for_fresh_run(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_damage_in_both_logs_is_each_named_and_the_earliest_decides_what_is_redone(tmp_path):
    _, after_a, _ = _journal(tmp_path)
    _tear(tmp_path / "metrics.jsonl", 6)  # counted by phases/B.json
    comm = tmp_path / "comm.jsonl"
    comm.write_text(comm.read_text().replace('{"bytes": 1}', '{"bytes": 7}'))  # counted by phases/A.json
    check = journal.check_logs(tmp_path)
    assert [d.split(", inside the part ")[1] for d in check.damages] == ["phases/A.json counts", "phases/B.json counts"]
    assert check.damages[0].startswith(f"{comm} lines 1-1 differ")
    assert [p.name for p, _ in check.discard] == ["A.json", "B.json"]
    assert journal.log_damage(tmp_path) == check.damages
