"""A tiny federation for the role tests: an LLM-like server and two clients with other tokenizers.

Server ``tiny-llama-unigram`` (SentencePiece-like), clients ``tiny-gpt2-bpe`` (byte-level BPE) and
``tiny-qwen2-wordpiece`` (WordPiece), all random-init with LoRA adapters, on ``tiny_qa``: 16
public samples and 16 private samples per client.
"""

from __future__ import annotations

from pathlib import Path

from peft import PeftModel
from transformers import PreTrainedTokenizerFast

from fedmkt.core.client import Client
from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.participant import Participant
from fedmkt.core.server import Server
from fedmkt.data.example import Example
from fedmkt.data.tasks import get_task
from fedmkt.models.lora import attach_lora
from fedmkt.models.tiny import build_tiny_model
from fedmkt.training.loop import TrainArgs

SERVER_MODEL = "tiny-llama-unigram"
CLIENT_MODELS = ("tiny-gpt2-bpe", "tiny-qwen2-wordpiece")
N_PUBLIC = 16
N_PRIVATE = 16
MAX_LENGTH = 64
TOP_K = 8
KD_WEIGHT = 0.1
SETTINGS = ExchangeSettings(top_k=TOP_K, kd_weight=KD_WEIGHT)


def tiny_qa_split(n_clients: int = 2) -> tuple[list[Example], list[list[Example]]]:
    """Public set and one disjoint private set per client, from ``tiny_qa`` train."""
    data = get_task("tiny_qa").load("train")
    public = data[:N_PUBLIC]
    private = [
        data[N_PUBLIC + i * N_PRIVATE : N_PUBLIC + (i + 1) * N_PRIVATE] for i in range(n_clients)
    ]
    return public, private


def lora_model(name: str, seed: int) -> tuple[PeftModel, PreTrainedTokenizerFast]:
    """Tiny model ``name`` with a fresh LoRA adapter (no dropout, so training is reproducible)."""
    model, tokenizer = build_tiny_model(name, seed=seed)
    return attach_lora(model, r=4, alpha=8, dropout=0.0, seed=seed), tokenizer


def participant(name: str, model_name: str, public: list[Example], seed: int = 0) -> Participant:
    """Tiny model ``model_name`` with a fresh LoRA adapter over ``public``."""
    model, tokenizer = lora_model(model_name, seed)
    return Participant(name, model, tokenizer, public, MAX_LENGTH)


def train_args(seed: int = 0, max_steps: int | None = None) -> TrainArgs:
    return TrainArgs(lr=2e-3, batch_size=4, warmup_ratio=0.0, seed=seed, max_steps=max_steps)


def build_federation(
    cache: Path, *, frozen: bool = False, client_models: tuple[str, ...] = CLIENT_MODELS,
    settings: ExchangeSettings = SETTINGS,
) -> tuple[Server, list[Client]]:
    """A server and registered clients, all with ``settings``; vocabulary maps are cached under ``cache``."""
    public, private = tiny_qa_split(len(client_models))
    model, tokenizer = lora_model(SERVER_MODEL, seed=0)
    server = Server(
        "server", model, tokenizer, public, settings=settings, max_length=MAX_LENGTH, frozen=frozen,
        alignment_cache=cache,
    )
    clients = []
    for i, name in enumerate(client_models):
        model, tokenizer = lora_model(name, seed=i + 1)
        client = Client(
            f"client-{i + 1}", model, tokenizer, private[i], public, server.info, settings=settings,
            max_length=MAX_LENGTH, alignment_cache=cache,
        )
        server.register_client(client.info)
        clients.append(client)
    return server, clients
