"""The server's steps of a round (paper section 3.2), written once for every transport.

Each takes the core server (or, for FedAvg, the clients' adapters) and flat arguments and
returns what it sends (bytes) and what it reports. Which clients a transport asks, and what it
does with a client left out (the run's ``min-clients``), is the transport's.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import replace

from torch import Tensor

from fedmkt.config import ParticipantConfig
from fedmkt.core.fedavg import FedAvgReport, fedavg_states
from fedmkt.core.server import Server
from fedmkt.federation.reported import Reported, Reports
from fedmkt.setup.training import round_args
from fedmkt.training.loop import ProgressCallback


def server_receive(
    server: Server, uploads: Mapping[str, bytes], round_: int, expected: Collection[str] | None = None,
) -> tuple[list[str], dict[str, str], Reports]:
    """Step 3 intake: every upload decoded and checked; the accepted clients (registration order),
    the rejected ones with their one-line reasons, and the report.

    ``expected``: the clients asked this round (``fedmkt.clients_per_round``); one not drawn is not
    reported missing (default: every registered client was asked).
    """
    received = server.receive(uploads, round=round_)
    if expected is not None:
        received = replace(received, missing=[name for name in received.missing if name in expected])
    return list(received.accepted), dict(received.rejected), [Reported("server_receive", received)]


def server_select(server: Server) -> Reports:
    """Step 3: per public sample the accepted client with the lowest answer NLL teaches (DualMinCE);
    its rows are aligned into the LLM's vocabulary and positions."""
    return [Reported("server_align", server.select_and_align())]


def server_train(
    server: Server, spec: ParticipantConfig, seed: int, round_: int, progress: ProgressCallback | None = None,
) -> Reports:
    """Step 4: the LLM's SFT + KD toward each sample's teacher, shuffled by the round's seed."""
    return [Reported("server_train", server.train_public(round_args(spec, seed, round_), progress=progress))]


def server_message(server: Server, round_: int) -> tuple[bytes, Reports]:
    """Steps 5-6: the LLM's top-k distributions and NLLs on the public set, one message for every client."""
    data, report = server.public_payload(round_)
    return data, [Reported("server_message", report)]


def fedavg(states: Mapping[str, Mapping[str, Tensor]], sizes: Mapping[str, float]) -> tuple[dict[str, Tensor],
                                                                                             FedAvgReport]:
    """The clients' adapters averaged, each weighted by its private data size (in ``states``' order)."""
    start = time.perf_counter()
    names = list(states)
    weights = [float(sizes[name]) for name in names]
    mean = fedavg_states([states[name] for name in names], weights)
    total = sum(weights)
    return mean, FedAvgReport(names, [w / total for w in weights], time.perf_counter() - start)
