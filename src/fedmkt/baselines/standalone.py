"""Standalone: each client fine-tunes its SLM on its own private data, with no federation."""

from __future__ import annotations

from fedmkt.baselines.common import finetune, load_participant, score
from fedmkt.config import ParticipantConfig
from fedmkt.report.results import ResultRow
from fedmkt.runners.context import RunContext


def standalone(ctx: RunContext, client: ParticipantConfig) -> list[ResultRow]:
    model, tokenizer = load_participant(ctx, client)
    model = finetune(ctx, client, model, tokenizer, ctx.private_data(client), "Standalone",
                     ctx.adapter_dir("Standalone", client.name))
    return score(ctx, client, "slm", "Standalone", model, tokenizer)
