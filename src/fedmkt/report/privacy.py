"""The (epsilon, delta) each client's DP-SGD had spent after every private phase, from ``privacy`` events.

A ``privacy`` event (``fedmkt.core.reports.PrivacyReport``) is logged after each client's private step of a
federated round and after a baseline's private fine-tuning (Standalone), by the in-process runner and, from
each node's reply, by a Flower ServerApp. Each method stands for a deployment of its own, so a client's
budget is per method; within one, the last round's epsilon covers everything the client sent
(docs/privacy.md).
"""

from __future__ import annotations

from fedmkt.report.markdown import markdown_table

INTRO = ("Each client's private training is DP-SGD (per-example clipping, Gaussian noise, Poisson sampling; "
         "docs/privacy.md). Epsilon is the accountant's over every private step so far at the delta shown: the "
         "last round's bounds everything the client sent in that method. Each method is a deployment of its own.")


def render_privacy(events: list[dict]) -> str:
    """A table of every ``privacy`` event, in order: method, round, client, (epsilon, delta), what set them, and
    (where the events carry it) how far a step's noise outweighed its signal; empty when the run had no DP-SGD."""
    found = [e for e in events if e.get("event") == "privacy" and {"epsilon", "delta"} <= set(e)]
    if not found:
        return ""
    ratio = any(e.get("noise_to_signal") is not None for e in found)  # runs before it was logged have none
    rows = [(e.get("phase", ""), e.get("round", "-"), e.get("participant", ""), f"{float(e['epsilon']):.3f}",
             f"{float(e['delta']):g}", f"{float(e['noise_multiplier']):.4g}", f"{float(e['max_grad_norm']):g}",
             f"{float(e['sample_rate']):.4g}", e.get("total_steps", ""), e.get("accountant", ""))
            + ((_ratio(e.get("noise_to_signal")),) if ratio else ())
            for e in found]
    header = ["Method", "Round", "Client", "Epsilon", "Delta", "Noise multiplier", "Clip", "Sample rate",
              "Steps so far", "Accountant"] + (["Noise / signal"] if ratio else [])
    return markdown_table(header, rows, "lrlrrrrrrl" + ("r" if ratio else ""))


def _ratio(value: object) -> str:
    return f"{float(value):.3g}x" if isinstance(value, int | float) else "-"
