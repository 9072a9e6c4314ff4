"""Centralized-LLM: the upper bound where the LLM sees every client's private data plus the public set."""

from __future__ import annotations

from fedmkt.baselines.common import finetune, load_participant, score
from fedmkt.report.results import ResultRow
from fedmkt.runners.context import RunContext


def centralized_llm(ctx: RunContext) -> list[ResultRow]:
    server = ctx.config.server
    pooled = [ex for private in ctx.split.private for ex in private] + list(ctx.split.public)
    model, tokenizer = load_participant(ctx, server)
    model = finetune(ctx, server, model, tokenizer, pooled, "Centralized-LLM",
                     ctx.adapter_dir("Centralized-LLM", server.name))
    return score(ctx, server, "llm", "Centralized-LLM", model, tokenizer)
