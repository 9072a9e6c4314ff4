from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.live import Live

from fedmkt.assets.progress import StepLog, human_bytes


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=100), out


def test_steps_are_timed_and_shown() -> None:
    console, out = _console()
    with StepLog(console=console) as log:
        with log.step("demo", "download"):
            pass
        with log.step("demo", "unpack", total=2048) as advance:
            advance(1024)
            advance(1024)
    assert [(t.asset, t.step) for t in log.timings] == [("demo", "download"), ("demo", "unpack")]
    assert set(log.seconds("demo")) == {"download", "unpack"}
    text = out.getvalue()
    assert "demo: download" in text and "demo: unpack" in text and "2.0 KiB" in text


def test_failed_step_is_marked_and_not_timed() -> None:
    console, out = _console()
    with pytest.raises(ValueError), StepLog(console=console) as log, log.step("demo", "convert"):
        raise ValueError("boom")
    assert log.timings == []
    assert "demo: convert failed" in out.getvalue()


def test_disabled_log_prints_nothing_but_still_times() -> None:
    console, out = _console()
    with StepLog(enabled=False, console=console) as log, log.step("demo", "verify"):
        pass
    assert out.getvalue() == "" and len(log.timings) == 1


def test_works_inside_a_callers_live_display() -> None:
    # rich >= 14 nests live displays; older rich refuses and StepLog prints one line per step.
    console, out = _console()
    with Live(console=console), StepLog(console=console) as log, log.step("demo", "convert"):
        pass
    assert "demo: convert" in out.getvalue() and len(log.timings) == 1


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (12, 1536, 543 * 2**20, 3 * 2**30)] == [
        "12 B",
        "1.5 KiB",
        "543.0 MiB",
        "3.0 GiB",
    ]
