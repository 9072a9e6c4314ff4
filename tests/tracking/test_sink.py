"""The event log's tracker sink: live events, a replay that closes nothing, a failing tracker dropped."""

import json

import pytest

from fedmkt.report.events import EventLog
from fedmkt.tracking.points import Points
from fedmkt.tracking.sink import TrackerSink


class Recorder:
    """A tracker that keeps what it is sent (the sink's contract: log, flush, close)."""

    name = "recorder"

    def __init__(self, fail_on: str | None = None):
        self.points, self.flushes, self.closed, self.fail_on = [], 0, None, fail_on

    def start(self, params, config_yaml):
        pass

    def log(self, points):
        if any(p.name.startswith(self.fail_on or "\0") for p in points):
            raise OSError(28, "No space left on device")
        self.points += [(p.name, p.step, p.value) for p in points]

    def flush(self):
        self.flushes += 1

    def close(self, status):
        self.closed = status


def test_every_event_written_reaches_the_tracker_after_its_line(tmp_path):
    recorder = Recorder()
    log = EventLog(tmp_path / "metrics.jsonl")
    seen_in_file = []
    log.sinks += [lambda record: seen_in_file.append(json.loads(log.path.read_text().splitlines()[-1]) == record),
                  TrackerSink([recorder], Points())]
    log.write("phase_start", phase="SLM-ZS")
    log.write("eval", phase="SLM-ZS/client-1", metric="acc", value=25.0, n=4)
    log.write("phase_end", phase="SLM-ZS", seconds=1.0)
    assert seen_in_file == [True, True, True]
    assert recorder.points == [("eval/SLM-ZS/client-1/acc", 0, 25.0)] and recorder.flushes == 1
    log.write("run_end", seconds=2.0)
    assert recorder.closed == "FINISHED"


def test_a_replayed_run_end_closes_nothing_and_a_live_one_does():
    recorder = Recorder()
    sink = TrackerSink([recorder], Points())
    sink.replay([{"event": "eval", "phase": "LLM-ZS/server", "metric": "acc", "value": 30.0},
                 {"event": "run_end", "seconds": 3.0}])
    assert recorder.closed is None and recorder.points == [("eval/LLM-ZS/server/acc", 0, 30.0)]
    sink({"event": "run_end", "seconds": 1.0})
    assert recorder.closed == "FINISHED"


def test_a_failing_tracker_is_dropped_with_one_warning_and_the_others_go_on(capsys, monkeypatch):
    monkeypatch.delenv("FEDMKT_DEBUG", raising=False)
    broken, working = Recorder(fail_on="eval/"), Recorder()
    sink = TrackerSink([broken, working], Points())
    for value in (10.0, 20.0):
        sink({"event": "eval", "phase": "SLM-ZS/client-1", "metric": "acc", "value": value})
    assert sink.backends == [working] and len(working.points) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("warning: tracking: recorder stopped (OSError: [Errno 28] No space left on device)")
    assert "fedmkt run --resume" in line


def test_with_debug_a_failing_tracker_raises(monkeypatch):
    monkeypatch.setenv("FEDMKT_DEBUG", "1")
    sink = TrackerSink([Recorder(fail_on="eval/")], Points())
    with pytest.raises(OSError):
        sink({"event": "eval", "phase": "SLM-ZS/client-1", "metric": "acc", "value": 1.0})
