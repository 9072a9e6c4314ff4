"""LLM-ZS and SLM-ZS: the pretrained models scored with no training at all."""

from __future__ import annotations

from fedmkt.baselines.common import load_participant, score
from fedmkt.report.results import ResultRow
from fedmkt.runners.context import RunContext


def llm_zero_shot(ctx: RunContext) -> list[ResultRow]:
    model, tokenizer = load_participant(ctx, ctx.config.server)
    return score(ctx, ctx.config.server, "llm", "LLM-ZS", model, tokenizer)


def slm_zero_shot(ctx: RunContext) -> list[ResultRow]:
    """One row set per client; clients that share a model are scored once."""
    rows: list[ResultRow] = []
    scored: dict[str, list[ResultRow]] = {}
    for client in ctx.config.clients:
        if client.model not in scored:
            model, tokenizer = load_participant(ctx, client)
            scored[client.model] = score(ctx, client, "slm", "SLM-ZS", model, tokenizer)
        rows += [_relabel(r, client.name) for r in scored[client.model]]
    return rows


def _relabel(row: ResultRow, participant: str) -> ResultRow:
    from dataclasses import replace

    return replace(row, participant=participant)
