"""One step of a round over Flower: send each client its message, collect who answered in time.

A client is left out of a step, with a one-line reason, when its node does not answer within
the timeout, answers with an error (its ClientApp raised, or the SuperLink reports the node or
message unavailable), or answers with a reply that cannot be read (:func:`parse_replies`).
Reasons go to the caller's ``exclude`` callback, which logs them; nothing here raises for a
client's failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid

from fedmkt.errors import FedMKTError

T = TypeVar("T")
Exclude = Callable[[str, str], None]  # (client name, reason)


class Exchange:
    """Sends a step's messages through ``grid`` and sorts the replies by client.

    Args:
        grid: the ServerApp's grid.
        timeout: seconds to wait for the replies of one step.
        ttl: message time-to-live in seconds (a message not picked up by then is dropped).
    """

    def __init__(self, grid: Grid, timeout: float, ttl: float | None = None) -> None:
        if timeout <= 0:
            raise FedMKTError(f"run config 'timeout': {timeout!r}, expected seconds > 0")
        self.grid = grid
        self.timeout = timeout
        self.ttl = ttl

    def ask(
        self, message_type: str, round_: int, contents: Mapping[str, RecordDict], nodes: Mapping[str, int],
        exclude: Exclude,
    ) -> dict[str, Message]:
        """Send ``contents[name]`` to ``nodes[name]``; the good replies by client name.

        Clients that fail are passed to ``exclude`` with the reason and left out of the result.
        """
        names = list(contents)
        messages = [
            Message(contents[name], dst_node_id=nodes[name], message_type=message_type, group_id=str(round_),
                    ttl=self.ttl)
            for name in names
        ]
        start = time.perf_counter()
        replies = list(self.grid.send_and_receive(messages, timeout=self.timeout)) if messages else []
        waited = time.perf_counter() - start
        # The grid sets each message's id when it pushes it; the SuperLink's own error replies (node
        # unavailable, reply expired) come from node 0, so replies are matched by the id they answer.
        by_id = {m.metadata.message_id: name for m, name in zip(messages, names, strict=True) if m.metadata.message_id}
        by_node = {nodes[name]: name for name in names}
        good: dict[str, Message] = {}
        answered: set[str] = set()
        for reply in replies:
            name = by_id.get(reply.metadata.reply_to_message_id) or by_node.get(reply.metadata.src_node_id)
            if name is None or name in answered:
                continue
            answered.add(name)
            if reply.has_error():
                exclude(name, f"{message_type}: error reply {reply.error.code}: {_one_line(reply.error.reason)}")
            else:
                good[name] = reply
        for name in names:
            if name not in answered:
                exclude(name, f"{message_type}: no answer within {self.timeout:g} s (waited {waited:.1f} s)")
        return good


def parse_replies(
    replies: Mapping[str, Message], parse: Callable[[str, RecordDict], T], exclude: Exclude, what: str
) -> dict[str, T]:
    """``parse(name, content)`` for every reply; a reply it rejects (``FedMKTError``) is excluded."""
    parsed: dict[str, T] = {}
    for name, reply in replies.items():
        try:
            parsed[name] = parse(name, reply.content)
        except FedMKTError as err:
            exclude(name, f"{what}: invalid reply: {_one_line(str(err))}")
    return parsed


def _one_line(text: str | None, limit: int = 300) -> str:
    flat = " ".join((text or "no reason given").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
