"""A Flower ``Grid`` that hands each message to the real ClientApp in this process (tests only).

It replaces only the transport: the ServerApp's ``FlowerFederation`` and the ClientApp's
handlers run unchanged, each message gets a fresh ``Context`` built from the node's config (so,
as under Flower 1.41, nothing but the node's cache folder carries state between messages), and
an exception in a handler becomes an error reply as the SuperNode makes it, and messages get
their ids as the real grid gives them. ``dead`` nodes never answer, or, with ``unavailable``, the
SuperLink answers for them with a NODE_UNAVAILABLE error (from node 0, as it does once their
heartbeats stop); ``tamper`` rewrites a node's replies (an invalid client), ``tamper_sent`` the
messages to a node (an invalid server message). ``keys`` are the nodes' public keys (PEM) as the
SuperLink reports them to the ServerApp (``get_nodes``); :func:`client_keys` makes each node the
holder of its own client's key pair, as the real nodes of a federation are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flwr.app import Error, Message, RecordDict
from flwr.app.message import Context
from flwr.clientapp import ClientApp
from flwr.proto.node_pb2 import NodeInfo  # pylint: disable=no-name-in-module
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from fedmkt.deploy.certs import make_node_keys


def pem_of(public_key_file: Path) -> bytes:
    """A node's public key as the SuperLink reports it (``NodeInfo.public_key``: PEM)."""
    key = serialization.load_ssh_public_key(public_key_file.read_bytes())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def client_keys(folder: Path, node_configs: Mapping[int, dict]) -> dict[int, bytes]:
    """Each node holds its client's key pair (``folder/<client>.key``/``.pub``, made once): node id -> PEM."""
    keys = {}
    for node, config in node_configs.items():
        public = folder / f"{config['client']}.pub"
        if not public.is_file():
            make_node_keys(folder, str(config["client"]))
        keys[node] = pem_of(public)
    return keys


class InProcessGrid(Grid):
    def __init__(self, app: ClientApp, node_configs: dict[int, dict], run_id: int = 1,
                 keys: Mapping[int, bytes] | None = None) -> None:
        self.app = app
        self.node_configs = node_configs
        self.keys = dict(keys or {})
        self.run_id = run_id
        self.dead: set[int] = set()
        self.unavailable = False  # the SuperLink reports dead nodes instead of staying silent
        self.kill_before: Callable[[Message], set[int]] | None = None  # nodes to kill before a message
        self.kill_after: Callable[[Message], set[int]] | None = None  # ... once it has been answered
        self.tamper: dict[int, Callable[[Message], Message]] = {}
        self.tamper_sent: dict[int, Callable[[Message], Message]] = {}
        self.sent: list[Message] = []
        TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = run_id, 1, 0

    @property
    def run(self):
        class _Run:
            run_id = self.run_id
        return _Run()

    def set_run(self, run) -> None:  # pragma: no cover - the ServerApp never calls it
        raise NotImplementedError

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:  # pragma: no cover
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return [n for n in self.node_configs if n not in self.dead]

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n, public_key=self.keys.get(n, b"")) for n in self.get_node_ids()]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:  # pragma: no cover
        raise NotImplementedError

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:  # pragma: no cover
        raise NotImplementedError

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        replies = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = message.object_id  # as the grid does when it pushes
            self.sent.append(message)
            if self.kill_before is not None:
                self.dead |= self.kill_before(message)
            node = message.metadata.dst_node_id
            if node in self.dead:
                if self.unavailable:
                    replies.append(_node_unavailable(message))
                continue
            if node in self.tamper_sent:
                message = self.tamper_sent[node](message)
            TaskIdentity.node_id = node
            context = Context(self.run_id, node, dict(self.node_configs[node]), RecordDict(), {})
            try:
                reply = self.app(message, context)
            except Exception as err:  # noqa: BLE001 - the SuperNode turns any exception into an error reply
                reply = Message(Error(code=0, reason=f"{type(err).__name__}: {err}"), reply_to=message)
            if node in self.tamper:
                reply = self.tamper[node](reply)
            replies.append(reply)
            if self.kill_after is not None:
                self.dead |= self.kill_after(message)
        return replies


def _node_unavailable(message: Message) -> Message:
    """The SuperLink's reply for a node whose heartbeats stopped: an error from node 0."""
    TaskIdentity.node_id = 0
    reply = Message(Error(code=5, reason="Error: Node Unavailable"), reply_to=message)
    reply.metadata.__dict__["_src_node_id"] = 0
    return reply
