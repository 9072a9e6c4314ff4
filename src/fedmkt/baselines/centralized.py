"""Centralized-LLM: the upper bound where the LLM sees every client's private data plus the public set.

The public set's answers are training data here only where they are in the federation: with
``fedmkt.public_sft`` false neither side of FedMKT trains on them, so the bound is the LLM on every
client's private data alone (in a domain federation: every domain's private data, so the one model
holds what each client knows).
"""

from __future__ import annotations

from fedmkt.report.results import ResultRow
from fedmkt.setup.context import RunContext


def centralized_llm(ctx: RunContext) -> list[ResultRow]:
    server = ctx.config.server
    public = list(ctx.split.public) if ctx.config.fedmkt.public_sft else []
    pooled = [ex for private in ctx.split.private for ex in private] + public
    base, tokenizer = ctx.load(server)
    model = ctx.finetune(server, base, tokenizer, pooled, "Centralized-LLM")
    return ctx.score(server, "llm", "Centralized-LLM", model, tokenizer)
