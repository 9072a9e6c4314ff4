"""A tiny server and one client built as both transports build them (``fedmkt.setup.roles``), fast to train."""

from __future__ import annotations

from pathlib import Path

from fedmkt.config import ParticipantConfig, load_preset
from fedmkt.core.client import Client
from fedmkt.core.server import Server
from fedmkt.data.tasks import get_task
from fedmkt.setup.models import with_lora
from fedmkt.setup.roles import build_client, build_server

CONFIG = load_preset("tiny")[2]  # one client, another tokenizer than the server's


def quick(spec: ParticipantConfig) -> ParticipantConfig:
    """``spec`` training two steps, so a step test trains in well under a second."""
    return spec.model_copy(update={"train": spec.train.model_copy(update={"max_steps": 2, "batch_size": 4})})


def server_and_client(cache: Path) -> tuple[Server, Client]:
    data = get_task("tiny_qa").load("train")
    public, private = data[:8], data[8:16]
    model, tokenizer = with_lora(CONFIG.server, dtype="float32", device="cpu", seed=0)
    server = build_server(CONFIG.server, model, tokenizer, public, CONFIG.fedmkt, alignment_cache=cache)
    spec = CONFIG.clients[0]
    model, tokenizer = with_lora(spec, dtype="float32", device="cpu", seed=1)
    client = build_client(spec, model, tokenizer, private, public, server.info, CONFIG.fedmkt, alignment_cache=cache)
    server.register_client(client.info)
    return server, client
