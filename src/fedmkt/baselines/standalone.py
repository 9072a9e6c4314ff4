"""Standalone: each client fine-tunes its SLM on its own private data, with no federation."""

from __future__ import annotations

from fedmkt.config import ParticipantConfig
from fedmkt.report.results import ResultRow
from fedmkt.setup.context import RunContext


def standalone(ctx: RunContext, client: ParticipantConfig) -> list[ResultRow]:
    base, tokenizer = ctx.load(client)
    model = ctx.finetune(client, base, tokenizer, ctx.private_data(client), "Standalone")
    return ctx.score(client, "slm", "Standalone", model, tokenizer)
