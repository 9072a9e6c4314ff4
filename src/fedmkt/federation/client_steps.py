"""A client's steps of a round (paper section 3.2), written once for every transport.

Each takes the core client and flat arguments and returns what it sends (bytes) and what it
reports; persisting state between steps (a checkpoint, a node's cache) is the transport's.
:data:`EVENTS` names the events each step can report, so a server that gets a client's
reports in a reply knows what to look for.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from fedmkt.config import ParticipantConfig
from fedmkt.core.client import Client, PrivateClient
from fedmkt.core.messages import MessageRejected
from fedmkt.core.reports import ReceiveReport
from fedmkt.federation.plan import DISTILL, PRIVATE, UPLOAD
from fedmkt.federation.reported import Reported, Reports
from fedmkt.models.lora import set_adapter_state
from fedmkt.setup.training import round_args
from fedmkt.training.loop import ProgressCallback

EVENTS: dict[str, tuple[str, ...]] = {
    PRIVATE: ("train_private", "privacy"),
    UPLOAD: ("client_message",),
    DISTILL: ("client_receive", "client_align", "client_train"),
}
"""Step name -> the events it reports, in the order it reports them."""


def client_private(
    client: PrivateClient, spec: ParticipantConfig, seed: int, round_: int, progress: ProgressCallback | None = None,
) -> Reports:
    """Step 1: SFT on the private data, shuffled by the round's seed; with DP-SGD, also what the client has spent
    (``privacy``: epsilon over every round so far)."""
    trained = client.train_private(round_args(spec, seed, round_), progress=progress)
    spent = client.privacy_report(trained.steps)
    return [Reported("train_private", trained)] + ([Reported("privacy", spent)] if spent is not None else [])


def client_upload(client: Client, round_: int) -> tuple[bytes, Reports]:
    """Step 2: the public top-k distributions and answer NLLs; the client keeps the NLLs as its own
    (``client.own_nll``, what step 7 compares the LLM's with)."""
    data, report = client.public_payload(round_)
    return data, [Reported("client_message", report)]


def client_distill(
    client: Client, data: bytes, spec: ParticipantConfig, seed: int, round_: int,
    progress: ProgressCallback | None = None,
) -> tuple[bool, Reports]:
    """Steps 7-8: the LLM's message received, the samples to distill chosen and aligned, then SFT + KD.

    Returns whether the client trained. A message it rejects (``MessageRejected``) is reported as
    ``client_receive`` and the client trains nothing this round, keeping its adapter: as the server
    goes on without a bad upload, so does a client without a bad LLM message.
    """
    try:
        aligned = client.receive_llm(data, round=round_)
    except MessageRejected as rejected:
        refused = ReceiveReport.refusal(client.name, round_, "server", rejected.reason, len(data))
        return False, [Reported("client_receive", refused)]
    trained = client.train_public(round_args(spec, seed, round_), progress=progress)
    return True, [Reported("client_align", aligned), Reported("client_train", trained)]


def client_take_mean(model: nn.Module, mean: Mapping[str, Tensor]) -> None:
    """FedAvg's last step on a client: the averaged adapter loaded (keys and shapes checked)."""
    device = next(model.parameters()).device
    set_adapter_state(model, {key: value.to(device) for key, value in mean.items()})
