"""The Flower run's folder gets what an in-process run writes: results.json, results.md, comm table."""

from __future__ import annotations

from fedmkt.io import atomic_write_text
from fedmkt.report.comm import CommLedger, reference_sizes, render_comm_table
from fedmkt.report.markdown import markdown_table
from fedmkt.report.results import ResultRow, write_results
from fedmkt.report.table import render_report
from fedmkt.runners.context import RunContext


def exclusions_table(events: list[dict]) -> str:
    """Markdown: every client left out of a step, and every client that refused the server's message
    (and so skipped that round's KD), with the round and the reason."""
    rows = [(e["round"], e["step"], e["client"], e["reason"]) for e in events if e.get("event") == "excluded"]
    rows += [(e["round"], "distill", e["receiver"], f"rejected the server's message: {reason}")
             for e in events if e.get("event") == "client_receive" for reason in e.get("rejected", {}).values()]
    if not rows:
        return ""
    return markdown_table(["Round", "Step", "Client", "Reason"], rows, "rlll")


def write_reports(ctx: RunContext, rows: list[ResultRow], ledger: CommLedger) -> None:
    """``results.json`` and ``results.md`` (tables, bytes per round, clients left out) in the run folder."""
    write_results(rows, ctx.run_dir / "results.json")
    report = render_report(rows, f"{ctx.config.name}: {ctx.config.task_label} ({ctx.scenario}, Flower deployment)")
    comm = render_comm_table(ledger.read(), reference_sizes(ctx.log.read()))
    if comm:
        report += "\n## Communication (bytes per round, all clients together)\n\n" + comm + "\n"
    left_out = exclusions_table(ctx.log.read())
    if left_out:
        report += "\n## Clients left out\n\n" + left_out + "\n"
    atomic_write_text(ctx.run_dir / "results.md", report)
