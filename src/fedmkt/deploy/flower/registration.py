"""Before round 1: wait for the SuperNodes, then learn from each which client it serves.

Flower knows nodes by id only; the ``query.info`` reply names the client, its model and logit
width. A node is refused (logged, never asked again) when it names no client of the
experiment, a model other than the experiment's for that client, or a client another node
already serves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from flwr.app import Message
from flwr.serverapp import Grid

from fedmkt.config import ExperimentConfig
from fedmkt.deploy.flower.codec import RecordError, record_int, record_str
from fedmkt.deploy.flower.exchange import Exclude


@dataclass(frozen=True)
class NodeInfo:
    """What a node's ``query.info`` reply says about its client."""

    node_id: int
    name: str
    model: str
    vocab_size: int
    n_private: int
    lora_bytes: int
    full_bytes: int


def wait_for_nodes(grid: Grid, wanted: int, seconds: float, poll: float = 1.0) -> list[int]:
    """The connected node ids once ``wanted`` are there, or whatever is there after ``seconds``."""
    deadline = time.monotonic() + seconds
    while len(node_ids := list(grid.get_node_ids())) < wanted and time.monotonic() < deadline:
        time.sleep(poll)
    return node_ids


def match_clients(
    replies: Mapping[str, Message], probe: Mapping[str, int], config: ExperimentConfig, exclude: Exclude
) -> dict[str, NodeInfo]:
    """Client name -> its node's info, in the experiment's client order (the registration order).

    ``replies`` and ``probe`` are keyed alike (a label per node id); refused nodes go to ``exclude``.
    """
    specs = {c.name: c for c in config.clients}
    found: dict[str, NodeInfo] = {}
    for key, reply in replies.items():
        info = reply.content.config_records.get("info")
        try:
            if info is None:
                raise RecordError("no info record")
            node = NodeInfo(probe[key], record_str(info, "name"), record_str(info, "model"),
                            record_int(info, "vocab_size"), record_int(info, "n_private"),
                            record_int(info, "lora_bytes"), record_int(info, "full_bytes"))
        except (KeyError, RecordError):
            exclude(key, "query.info: the reply lacks the client's name, model or sizes")
            continue
        if node.name not in specs or node.model != specs[node.name].model:
            exclude(key, f"query.info: serves {node.name!r} with model {node.model!r}, not a client of "
                         f"experiment {config.name!r}")
        elif node.name in found:
            exclude(key, f"query.info: client {node.name!r} is already served by node {found[node.name].node_id}")
        elif node.vocab_size < 1 or node.n_private < 1:
            exclude(key, f"query.info: vocab_size {node.vocab_size} / n_private {node.n_private}, expected >= 1")
        else:
            found[node.name] = node
    return {name: found[name] for name in specs if name in found}
