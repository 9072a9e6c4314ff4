"""The core's roles built from the experiment's entries, as the runner and the Flower apps build them.

The same server, client and plain-FedAvg client on both transports: names, encoding lengths and
the run's :class:`~fedmkt.core.exchange_settings.ExchangeSettings` come from the config here, once, and
the vocabulary maps are cached in :func:`default_alignment_cache` unless a driver names a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn
from transformers import PreTrainedTokenizerBase

from fedmkt.assets.registry import cache_dir
from fedmkt.config import FedMKTConfig, ParticipantConfig
from fedmkt.core.client import Client, PrivateClient
from fedmkt.core.exchange_settings import ExchangeSettings
from fedmkt.core.peer import PeerInfo
from fedmkt.core.server import Server
from fedmkt.data.example import Example
from fedmkt.privacy.budget import PrivacyLedger


def default_alignment_cache() -> Path:
    """``$FEDMKT_HOME/cache/vocab_maps``: the vocabulary maps of every run on this machine."""
    return cache_dir() / "vocab_maps"


def exchange_settings(fedmkt: FedMKTConfig) -> ExchangeSettings:
    """The experiment's ``fedmkt`` section as the settings the roles bind."""
    return ExchangeSettings(
        top_k=fedmkt.top_k, public_batch_size=fedmkt.public_batch_size, unmatched_weight=fedmkt.unmatched_weight,
        kd_weight=fedmkt.kd_weight, temperature=fedmkt.temperature, public_sft=fedmkt.public_sft,
        kd_positions=fedmkt.kd_positions,
    )


def build_server(
    spec: ParticipantConfig, model: nn.Module, tokenizer: PreTrainedTokenizerBase, public: Sequence[Example],
    fedmkt: FedMKTConfig, *, frozen: bool = False, alignment_cache: Path | None = None,
) -> Server:
    """The server's LLM over the public set (``frozen``: LLM2SLM's teacher that never trains)."""
    return Server(spec.name, model, tokenizer, public, settings=exchange_settings(fedmkt),
                  alignment_cache=alignment_cache or default_alignment_cache(), max_length=spec.train.max_length,
                  frozen=frozen)


def build_client(
    spec: ParticipantConfig, model: nn.Module, tokenizer: PreTrainedTokenizerBase, private: Sequence[Example],
    public: Sequence[Example], server: PeerInfo, fedmkt: FedMKTConfig, *, alignment_cache: Path | None = None,
    privacy: PrivacyLedger | None = None,
) -> Client:
    """A client of the logits exchange, the server known by ``server`` (``privacy``: its DP-SGD ledger)."""
    return Client(spec.name, model, tokenizer, private, public, server, settings=exchange_settings(fedmkt),
                  alignment_cache=alignment_cache or default_alignment_cache(), max_length=spec.train.max_length,
                  privacy=privacy)


def private_client(
    spec: ParticipantConfig, model: nn.Module, tokenizer: PreTrainedTokenizerBase, private: Sequence[Example],
    privacy: PrivacyLedger | None = None,
) -> PrivateClient:
    """A client of plain FedAvg: private SFT only (``privacy``: its DP-SGD ledger)."""
    return PrivateClient(spec.name, model, tokenizer, private, max_length=spec.train.max_length, privacy=privacy)
