"""metrics.jsonl / comm.jsonl reading: a damaged line is one error naming file:line, or listed and skipped."""

from __future__ import annotations

import pytest

from fedmkt.errors import FedMKTError
from fedmkt.report.comm import CommLedger
from fedmkt.report.events import EventLog, scan_jsonl

LINES = [b'{"event": "run_start"}', b'{"event": "phase_start", "phase": "A"}', b'{"event": "phase_end", "phase": "A"}']


@pytest.mark.parametrize("bad, reason", [
    (b'{"event": "phase_st', "not a JSON line (Unterminated string"),
    (b"[1, 2]", "a JSON list, not an object"),
    (b'{"event": "caf\xe9"}', "not UTF-8 text (byte 14)"),
], ids=["torn", "not an object", "not utf-8"])
def test_a_damaged_line_is_named_by_file_and_line(tmp_path, bad, reason):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"\n".join([LINES[0], bad, LINES[2]]) + b"\n")
    with pytest.raises(FedMKTError) as damaged:
        EventLog(path).read()
    assert str(damaged.value).startswith(f"{path}:2: {reason}")
    assert str(damaged.value).endswith("; the file is damaged") and "\n" not in str(damaged.value)
    records, problems = scan_jsonl(path)
    assert records == [{"event": "run_start"}, {"event": "phase_end", "phase": "A"}]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:2: {reason}")


def test_the_ledger_reads_the_same_way_and_counts_further_damage(tmp_path):
    path = tmp_path / "comm.jsonl"
    path.write_bytes(b'{"bytes": 1}\n{"bytes"\n\n{"bytes": 3}\nxx\n')
    with pytest.raises(FedMKTError, match=rf"^{path}:2: not a JSON line .*\(and 1 more damaged lines\)"):
        CommLedger(path).read()
    assert scan_jsonl(path)[0] == [{"bytes": 1}, {"bytes": 3}]


def test_intact_and_missing_files_read_as_before(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert EventLog(path).read() == [] and CommLedger(tmp_path / "comm.jsonl").read() == []
    log = EventLog(path)
    log.write("run_start", name="x")
    log.write("phase_end", phase="A", seconds=1.5)
    assert [(e["event"], e.get("seconds")) for e in log.read()] == [("run_start", None), ("phase_end", 1.5)]
