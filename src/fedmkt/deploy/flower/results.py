"""The Flower run's folder gets what an in-process run writes: results.json, results.md, comm table,
``plots/`` and a model card in each adapter folder, however the run was started (``flwr run`` too)."""

from __future__ import annotations

from fedmkt.io import atomic_write_text
from fedmkt.report.comm import CommLedger, reference_sizes, render_comm_table
from fedmkt.report.markdown import markdown_table
from fedmkt.report.model_card import write_adapter_cards
from fedmkt.report.privacy import INTRO as PRIVACY_INTRO
from fedmkt.report.privacy import render_privacy
from fedmkt.report.results import ResultRow, write_results
from fedmkt.report.run_plots import write_run_plots
from fedmkt.report.table import render_report
from fedmkt.setup.context import RunContext


def exclusions_table(events: list[dict]) -> str:
    """Markdown: every client left out of a step, and every client that refused the server's message
    (and so skipped that round's KD), with the round and the reason."""
    rows = [(e["round"], e["step"], e["client"], e["reason"]) for e in events if e.get("event") == "excluded"]
    rows += [(e["round"], "distill", e["receiver"], f"rejected the server's message: {reason}")
             for e in events if e.get("event") == "client_receive" for reason in e.get("rejected", {}).values()]
    if not rows:
        return ""
    return markdown_table(["Round", "Step", "Client", "Reason"], rows, "rlll")


def identity_section(events: list[dict]) -> str:
    """Markdown: how the run knew which node serves which client, and each registered client's node
    and key fingerprint (from the last registration: a resumed run registers again)."""
    starts = [i for i, e in enumerate(events) if e.get("event") == "client_identity"]
    if not starts:
        return ""
    identity = events[starts[-1]]
    if identity.get("verified"):
        text = (f"Each client was registered by the public key its SuperNode authenticated with (run config "
                f"`client-keys`: `{identity.get('client_keys', '')}`); a node whose key is no client's, or that "
                f"claims another client than its key's, is refused (see Clients left out).\n")
    else:
        text = ("**Unverified:** the run config sets `trust-client-names = true`, so clients were registered by "
                "the name their nodes claimed and no key was checked; any node the SuperLink admitted could have "
                "taken any client's slot.\n")
    rows = [(e["client"], e.get("node_id", ""), e.get("key") or "none", "yes" if e.get("verified") else "no")
            for e in events[starts[-1]:] if e.get("event") == "client_registered"]
    if rows:
        text += "\n" + markdown_table(["Client", "Node", "Key (SHA256 fingerprint)", "Verified"], rows, "llll") + "\n"
    return text


def write_reports(ctx: RunContext, rows: list[ResultRow], ledger: CommLedger) -> None:
    """``results.json``, ``results.md`` (tables, bytes per round, client identity, clients left out), the plots
    and the server's adapters' model cards (the clients' adapters stay on their nodes)."""
    write_results(rows, ctx.run_dir / "results.json")
    write_run_plots(rows, ctx.run_dir)
    write_adapter_cards(ctx.run_dir)
    report = render_report(rows, f"{ctx.config.name}: {ctx.config.task_label} ({ctx.scenario}, Flower deployment)")
    events = ctx.log.read()
    comm = render_comm_table(ledger.read(), reference_sizes(events))
    if comm:
        report += "\n## Communication (bytes per round, all clients together)\n\n" + comm + "\n"
    identity = identity_section(events)
    if identity:
        report += "\n## Client identity\n\n" + identity
    privacy = render_privacy(events)
    if privacy:
        report += f"\n## Differential privacy (epsilon, delta) per client and round\n\n{PRIVACY_INTRO}\n\n{privacy}\n"
    left_out = exclusions_table(events)
    if left_out:
        report += "\n## Clients left out\n\n" + left_out + "\n"
    atomic_write_text(ctx.run_dir / "results.md", report)
