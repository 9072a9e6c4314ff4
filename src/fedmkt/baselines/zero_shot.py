"""LLM-ZS and SLM-ZS: the pretrained models scored with no training at all.

A base model is evaluated once per run process: clients that share a model share one scoring, and
a client that runs the server's model (the heterogeneous setting's Gemma client) reuses LLM-ZS's.
A resumed run scores again what it has not kept in memory, which gives the same numbers.
"""

from __future__ import annotations

from dataclasses import replace

from fedmkt.config import ParticipantConfig
from fedmkt.report.results import ResultRow
from fedmkt.setup.context import RunContext
from fedmkt.setup.scoring import Scored


def _base_model_result(ctx: RunContext, participant: ParticipantConfig, phase: str) -> Scored:
    """The participant's base model's scoring on the eval set (each domain's), evaluated only the first time it
    is asked for."""
    if participant.model not in ctx.zero_shot_results:
        model, tokenizer = ctx.load(participant)
        ctx.zero_shot_results[participant.model] = ctx.evaluate(phase, model, tokenizer)
    return ctx.zero_shot_results[participant.model]


def llm_zero_shot(ctx: RunContext) -> list[ResultRow]:
    result = _base_model_result(ctx, ctx.config.server, "LLM-ZS/server")
    return ctx.record_scores(ctx.config.server, "llm", "LLM-ZS", result)


def slm_zero_shot(ctx: RunContext) -> list[ResultRow]:
    """One row set per client; clients that share a model share the first one's score file."""
    rows: list[ResultRow] = []
    scored: dict[str, list[ResultRow]] = {}
    for client in ctx.config.clients:
        if client.model not in scored:
            result = _base_model_result(ctx, client, f"SLM-ZS/{client.name}")
            scored[client.model] = ctx.record_scores(client, "slm", "SLM-ZS", result)
        rows += [replace(r, participant=client.name) for r in scored[client.model]]
    return rows
