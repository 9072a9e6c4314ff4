"""A message's header read from untrusted bytes: every field type-checked, every refusal one short line."""

from __future__ import annotations

import json

import pytest
import safetensors.numpy

from fedmkt.core.message_header import HEADER_KEY, SCHEMA_VERSION, MessageRejected, read_header, short_repr

GOOD = {"schema_version": SCHEMA_VERSION, "sender": "client-1", "round": 2, "vocab_size": 300, "top_k": 2,
        "uids": ["a", "b"]}


def _bytes(header) -> bytes:
    return safetensors.numpy.save({}, metadata={HEADER_KEY: json.dumps(header)})


def test_a_good_header_is_returned_as_sent():
    assert read_header(_bytes(GOOD)) == GOOD


@pytest.mark.parametrize("change, reason", [
    ({"schema_version": 2}, "schema_version 2, expected 1"),
    ({"schema_version": True}, "schema_version True"),
    ({"sender": ""}, "sender must be a string of 1-256 characters"),
    ({"sender": "x" * 257}, "sender must be a string of 1-256 characters"),
    ({"round": "2"}, "round must be an integer, got '2'"),
    ({"top_k": False}, "top_k must be an integer, got False"),
    ({"uids": ["a", 3]}, "uids must be a list of strings"),
])
def test_each_field_of_the_wrong_type_is_refused_naming_it(change, reason):
    with pytest.raises(MessageRejected) as info:
        read_header(_bytes({**GOOD, **change}))
    assert reason in info.value.reason and "\n" not in str(info.value)


@pytest.mark.parametrize("data, reason", [
    ("text", "expected bytes, got str"),
    (b"\x01\x00", "truncated: 2 bytes"),
    ((10**6).to_bytes(8, "little") + b"{}", "header claims 1000000 bytes, 2 follow"),
    ((2).to_bytes(8, "little") + b"{}", "undecodable header (KeyError"),
])
def test_bytes_that_are_not_a_header_are_refused_in_one_line(data, reason):
    with pytest.raises(MessageRejected, match=reason.replace("(", r"\(")):
        read_header(data)


def test_an_untrusted_value_is_cut_short_in_a_reason():
    assert short_repr("x" * 1000) == repr("x" * 1000)[:77] + "..." and short_repr("ab") == "'ab'"
    assert str(MessageRejected("bad", "s" * 500)).startswith("message from 'sss") and len(str(
        MessageRejected("bad", "s" * 500))) < 120
