"""Error texts stay short: user values are shortened before they are echoed, and long messages are cut."""

from __future__ import annotations

from fedmkt.core.messages import MessageRejected
from fedmkt.errors import MAX_MESSAGE_CHARS, MAX_VALUE_CHARS, FedMKTError, shown, shown_text


def _bomb(levels: int) -> list:
    """``levels`` nested lists of ten shared references each: 10**levels leaves, a few hundred objects."""
    value: list = ["lol"] * 10
    for _ in range(levels):
        value = [value] * 10
    return value


def test_shown_bounds_a_value_whatever_its_size():
    for value in ("x" * 10_000_000, _bomb(9), list(range(1_000_000)), {str(i): i for i in range(10_000)},
                  10**4000, b"\xff" * 100_000):
        text = shown(value)
        assert len(text) <= MAX_VALUE_CHARS, (type(value), len(text))
    assert "..." in shown("x" * 1000) and shown("x" * 1000).startswith("'xxx")


def test_shown_keeps_short_values_as_their_repr():
    for value in ("two", 3, 0.5, [1, 2], {"a": 1}, None, True, "it's"):
        assert shown(value) == repr(value)


def test_shown_text_cuts_only_long_text():
    assert shown_text("fedmkt.top_k") == "fedmkt.top_k"
    long = shown_text("k" * 10_000)
    assert len(long) == MAX_VALUE_CHARS and long.endswith("...")


def test_a_long_message_is_cut_and_says_how_much():
    error = FedMKTError("x.yaml: " + "y" * 100_000)
    text = str(error)
    assert len(text) <= MAX_MESSAGE_CHARS + 40 and text.startswith("x.yaml: yyy")
    assert text.endswith(f"... ({100_008 - MAX_MESSAGE_CHARS + 40} characters cut)")
    assert str(FedMKTError("short and clear")) == "short and clear"


def test_subclasses_are_bounded_too():
    reason = "z" * 50_000
    error = MessageRejected(reason, "client-1")
    assert len(str(error)) <= MAX_MESSAGE_CHARS + 40 and str(error).startswith("message from 'client-1' rejected: zz")
    assert error.reason == reason  # the structured field keeps what it was given
