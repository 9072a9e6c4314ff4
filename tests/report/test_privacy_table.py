"""report.privacy: the (epsilon, delta) table of a run's ``privacy`` events."""

from __future__ import annotations

from fedmkt.report.privacy import render_privacy

EVENT = {"event": "privacy", "phase": "FedMKT", "round": 1, "participant": "client-1", "epsilon": 0.72, "delta": 1e-3,
         "noise_multiplier": 2.1, "max_grad_norm": 1.0, "sample_rate": 1 / 6, "total_steps": 6, "accountant": "rdp"}


def test_no_privacy_events_no_table():
    assert render_privacy([{"event": "eval"}]) == ""


def test_the_noise_to_signal_column_appears_only_where_the_events_carry_it():
    """Runs logged before the ratio was (the archived ones) keep their table as it was."""
    old = render_privacy([EVENT])
    assert "Noise / signal" not in old
    assert "| FedMKT | 1 | client-1 | 0.720 | 0.001 | 2.1 | 1 | 0.1667 | 6 | rdp |" in old
    new = render_privacy([EVENT, {**EVENT, "round": 2, "epsilon": 0.995, "noise_to_signal": 252.04}])
    assert "| Noise / signal |" in new
    assert "| rdp | - |" in new and "| rdp | 252x |" in new
