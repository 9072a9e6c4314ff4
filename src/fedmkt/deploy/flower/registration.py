"""Before round 1: wait for the SuperNodes, know each by its key, then ask it about its client.

A node is the client whose public key it holds (``fedmkt.deploy.flower.identity``); its
``query.info`` reply gives that client's model, logit width and data size, and must name that
same client. A node is refused (logged, never asked again) when its key is no client's (before it
is sent anything), when its reply names another client than its key's, a model other than the
experiment's for that client, or a client another node already serves. With
``trust-client-names`` (no keys) the name in the reply decides and the first claim wins. Every
client left without a node is logged as excluded too, so ``results.md`` lists it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.proto.node_pb2 import NodeInfo as FlowerNode  # pylint: disable=no-name-in-module
from flwr.serverapp import Grid

from fedmkt.config import ExperimentConfig
from fedmkt.deploy.flower.codec import RecordError, record_int, record_str
from fedmkt.deploy.flower.exchange import Exchange, Exclude
from fedmkt.deploy.flower.identity import ClientKeys, fingerprint, node_key


@dataclass(frozen=True)
class NodeInfo:
    """What a node's ``query.info`` reply says about its client, and the node's key fingerprint."""

    node_id: int
    name: str
    model: str
    vocab_size: int
    n_private: int
    lora_bytes: int
    full_bytes: int
    key: str = ""


@dataclass(frozen=True)
class Candidate:
    """A connected node: its label in the logs, its key's fingerprint, and whose key it is."""

    label: str
    node_id: int
    key: str  # "" when the node has no readable key
    owner: str | None  # the client its key belongs to; None when names are trusted


def wait_for_nodes(grid: Grid, keys: ClientKeys | None, wanted: int, seconds: float,
                   poll: float = 1.0) -> list[FlowerNode]:
    """The connected nodes once every client's key is among them (``wanted`` nodes when names are
    trusted), or whatever is connected after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        nodes = list(grid.get_nodes())
        if keys is None:
            done = len(nodes) >= wanted
        else:
            done = set(keys.by_client) <= {keys.owner(node_key(n.public_key)) for n in nodes}
        if done or time.monotonic() >= deadline:
            return nodes
        time.sleep(poll)


def identify(nodes: list[FlowerNode], keys: ClientKeys | None, exclude: Exclude) -> dict[str, Candidate]:
    """Label -> candidate for every node that may be asked; a node whose key is no client's is refused."""
    found: dict[str, Candidate] = {}
    for node in nodes:
        der = node_key(node.public_key)
        label, key = f"node-{node.node_id}", fingerprint(der) if der else ""
        if keys is None:
            found[label] = Candidate(label, node.node_id, key, None)
        elif der is None:
            exclude(label, "registration: the node has no EC public key (is the SuperLink running with "
                           "--enable-supernode-auth?); not asked")
        elif (owner := keys.owner(der)) is None:
            exclude(label, f"registration: its key {key} is no client's key in {keys.folder}; not asked")
        else:
            found[label] = Candidate(label, node.node_id, key, owner)
    return found


def match_clients(replies: Mapping[str, Message], candidates: Mapping[str, Candidate], config: ExperimentConfig,
                  exclude: Exclude) -> dict[str, NodeInfo]:
    """Client name -> its node's info, in the experiment's client order (the registration order).

    ``replies`` are keyed by candidate label; refused nodes go to ``exclude``.
    """
    specs = {c.name: c for c in config.clients}
    found: dict[str, NodeInfo] = {}
    for label, reply in replies.items():
        candidate = candidates[label]
        info = reply.content.config_records.get("info")
        try:
            if info is None:
                raise RecordError("no info record")
            node = NodeInfo(candidate.node_id, record_str(info, "name"), record_str(info, "model"),
                            record_int(info, "vocab_size"), record_int(info, "n_private"),
                            record_int(info, "lora_bytes"), record_int(info, "full_bytes"), candidate.key)
        except (KeyError, RecordError):
            exclude(label, "query.info: the reply lacks the client's name, model or sizes")
            continue
        if candidate.owner is not None and node.name != candidate.owner:
            exclude(label, f"query.info: claims to serve {node.name[:80]!r} but holds the key of "
                           f"{candidate.owner!r} ({candidate.key}); a node serves only the client whose key it holds")
        elif node.name not in specs or node.model != specs[node.name].model:
            exclude(label, f"query.info: serves {node.name[:80]!r} with model {node.model[:80]!r}, not a client of "
                           f"experiment {config.name!r}")
        elif node.name in found:
            exclude(label, f"query.info: client {node.name!r} is already served by node {found[node.name].node_id}")
        elif node.vocab_size < 1 or node.n_private < 1:
            exclude(label, f"query.info: vocab_size {node.vocab_size} / n_private {node.n_private}, expected >= 1")
        else:
            found[node.name] = node
    return {name: found[name] for name in specs if name in found}


def unserved(config: ExperimentConfig, found: Mapping[str, NodeInfo], candidates: Mapping[str, Candidate],
             keys: ClientKeys | None, waited: float) -> dict[str, str]:
    """Client name -> why no node serves it, for every client of the experiment left without one."""
    reasons = {}
    for name in (c.name for c in config.clients if c.name not in found):
        holders = [c.label for c in candidates.values() if c.owner == name]
        if holders:
            reasons[name] = f"registration: not registered; {holders[0]}, which holds its key, was refused"
        elif keys is not None:
            reasons[name] = (f"registration: not registered; no node holding its key "
                             f"({fingerprint(keys.by_client[name])}) connected within {waited:g} s")
        else:
            reasons[name] = f"registration: not registered; no node was accepted as {name!r} within {waited:g} s"
    return reasons


def register_nodes(grid: Grid, exchange: Exchange, config: ExperimentConfig, keys: ClientKeys | None,
                   job: ConfigRecord, wait: float, exclude: Exclude) -> tuple[int, dict[str, NodeInfo]]:
    """How many nodes were connected, and client name -> its node's info (see the module docstring)."""
    nodes = wait_for_nodes(grid, keys, len(config.clients), wait)
    candidates = identify(nodes, keys, exclude)
    probe = {label: c.node_id for label, c in candidates.items()}
    replies = exchange.ask("query.info", 0, {label: RecordDict({"job": job}) for label in probe}, probe, exclude)
    found = match_clients(replies, candidates, config, exclude)
    for name, reason in unserved(config, found, candidates, keys, wait).items():
        exclude(name, reason)
    return len(nodes), found
