"""Standalone: each client fine-tunes its SLM on its own private data, with no federation.

With ``privacy`` the fine-tuning is DP-SGD, its budget planned for this one phase: each method of a run
stands for a deployment of its own, so a client's budget is per method (docs/privacy.md).
"""

from __future__ import annotations

from fedmkt.config import ParticipantConfig
from fedmkt.report.results import ResultRow
from fedmkt.setup.context import RunContext
from fedmkt.setup.privacy import client_ledger


def standalone(ctx: RunContext, client: ParticipantConfig) -> list[ResultRow]:
    private = ctx.private_data(client)
    ledger = client_ledger(ctx.config, client, len(private), phases=1)
    base, tokenizer = ctx.load(client)
    model = ctx.finetune(client, base, tokenizer, private, "Standalone", privacy=ledger)
    return ctx.score(client, "slm", "Standalone", model, tokenizer)
