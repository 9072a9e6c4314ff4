"""Centralized-LLM: the upper bound where the LLM sees every client's private data plus the public set."""

from __future__ import annotations

from fedmkt.report.results import ResultRow
from fedmkt.setup.context import RunContext


def centralized_llm(ctx: RunContext) -> list[ResultRow]:
    server = ctx.config.server
    pooled = [ex for private in ctx.split.private for ex in private] + list(ctx.split.public)
    base, tokenizer = ctx.load(server)
    model = ctx.finetune(server, base, tokenizer, pooled, "Centralized-LLM")
    return ctx.score(server, "llm", "Centralized-LLM", model, tokenizer)
