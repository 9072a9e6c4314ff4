"""What the knowledge transfer carried in each round, from a run's ``metrics.jsonl``.

Three questions decide whether distillation can help, and the run logs the answer to each:

- **Does the teacher know more than the student?** Every message logs how often its sender's
  top-1 token is the gold answer token (``gold_top1``) and the probability it gives that token
  (``gold_prob``), over the answer positions of the public set.
- **Whose distribution does DualMinCE pick?** Each receiver's ``*_align`` event counts, per public
  sample, which peer it distilled from (``none``: its own answer NLL was lower than every peer's,
  so that sample gets no KD).
- **How well do the tokenizers align?** The same event counts the receiver's answer positions in
  the distilled samples (``rows``) and those the alignment gave a teacher distribution
  (``matched_rows``; the rest fall back to the one-hot gold token).
"""

from __future__ import annotations

from fedmkt.report.markdown import markdown_table

MESSAGE_EVENTS = ("client_message", "server_message")
ALIGN_EVENTS = ("server_align", "client_align")


def render_messages(events: list[dict]) -> str:
    """Markdown: per phase, round and sender, how often the message's top-1 is the gold token."""
    messages = [e for e in events if e.get("event") in MESSAGE_EVENTS and "gold_top1" in e]
    if not messages:
        return ""
    header = ["Phase", "Round", "Sender", "Answer positions", "Top-1 is the gold token",
              "Probability of the gold token"]
    rows = [(e["phase"], e["round"], e["sender"], e.get("n_positions", "-"), f"{100 * e['gold_top1']:.1f}%",
             f"{e['gold_prob']:.3f}") for e in messages]
    return markdown_table(header, rows, "lrlrrr")


def render_selection(events: list[dict]) -> str:
    """Markdown: per phase, round and receiver, whom DualMinCE chose and how many positions aligned."""
    aligns = [e for e in events if e.get("event") in ALIGN_EVENTS and "counts" in e]
    if not aligns:
        return ""
    table_rows = []
    for e in aligns:
        counts = ", ".join(f"{peer} {n}" for peer, n in sorted(e["counts"].items(), key=lambda kv: kv[0] == "none"))
        rows, matched = e.get("rows", 0), e.get("matched_rows", 0)
        share = f"{matched} of {rows} ({100 * matched / rows:.0f}%)" if rows else "-"
        table_rows.append((e["phase"], e["round"], e["receiver"], counts, e.get("aligned_samples", "-"), share))
    header = ["Phase", "Round", "Receiver", "Distilled from (samples)", "Aligned samples",
              "Positions with a teacher row"]
    return markdown_table(header, table_rows, "lrllrr")


def render_transfer(events: list[dict]) -> str:
    """Both tables with their explanations (empty for a run without a federated phase)."""
    messages, selection = render_messages(events), render_selection(events)
    if not (messages or selection):
        return ""
    out = []
    if messages:
        out += ["How often each message's most likely token is the gold answer token, over the public set's "
                "answer positions: a teacher can only add what it knows beyond the student.", "", messages, ""]
    if selection:
        out += ["Whose distribution each receiver distilled from, per public sample (DualMinCE; `none`: its own "
                "answer loss was lower than every peer's), and how many of the receiver's answer positions in "
                "those samples the token alignment gave a teacher distribution (the rest: the one-hot gold "
                "token).", "", selection, ""]
    return "\n".join(out).rstrip()
